"""The digits lab's loss landscape: filter-normalised directions, and grid values that are the
loss of the model moved there (checked by moving a copy of the model by hand)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from app.protocol.images import image_client_adapter
from app.training.images.config import ConvBlockConfig, ImageLabConfig, ImageModelConfig
from app.training.images.landscape import (
    LANDSCAPE_IMAGES,
    MAX_RESOLUTION,
    MAX_SPAN,
    LandscapePlan,
    compute_landscape,
    filter_normalised,
    flat_parameters,
    landscape_subset,
    new_trajectory,
    random_directions,
    take_snapshot,
)
from app.training.images.run import ImageRun

# Batch norm, a dense layer and dropout: every kind of parameter and both eval-mode effects.
MIXED = ImageLabConfig(
    model=ImageModelConfig(
        conv_blocks=[ConvBlockConfig(channels=4), ConvBlockConfig(channels=6, kernel_size=5)],
        hidden_layers=[12],
        batchnorm=True,
        dropout=0.5,
    )
)


@pytest.fixture(scope="module")
def trained() -> ImageRun:
    torch.set_num_threads(1)
    run = ImageRun(MIXED)
    run.train(5)
    return run


def blocks_of(model: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """The flat vector cut back into one tensor per named parameter (by hand, not by the code
    under test)."""
    out, at = {}, 0
    for name, parameter in model.named_parameters():
        out[name] = flat[at : at + parameter.numel()].view_as(parameter)
        at += parameter.numel()
    assert at == flat.numel()
    return out


def test_each_filter_s_block_of_a_direction_has_that_filter_s_norm(trained: ImageRun) -> None:
    model = trained.model
    d1, d2 = random_directions(model, seed=3)
    for direction in (d1, d2):
        parts = blocks_of(model, direction)
        checked = 0
        for name, module in model.named_modules():
            if not isinstance(module, nn.Conv2d | nn.Linear):
                continue
            assert module.bias is not None
            # One filter = one output channel's kernel [in, kh, kw] (or a neuron's row), and
            # its bias.
            weight, bias = parts[f"{name}.weight"], parts[f"{name}.bias"]
            for f in range(module.weight.shape[0]):
                own = torch.cat(
                    [module.weight[f].detach().flatten(), module.bias[f : f + 1].detach()]
                )
                moved = torch.cat([weight[f].flatten(), bias[f : f + 1]])
                assert torch.allclose(moved.norm(), own.norm(), rtol=1e-5)
                checked += 1
        assert checked == 4 + 6 + 12 + 10
        for name, module in model.named_modules():
            if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
                assert parts[f"{name}.weight"].abs().sum() == 0
                assert parts[f"{name}.bias"].abs().sum() == 0
    assert not torch.allclose(d1, d2)


def test_without_the_bias_the_weights_alone_are_the_filter_and_biases_stay(
    trained: ImageRun,
) -> None:
    model = trained.model
    direction = torch.randn(sum(p.numel() for p in model.parameters()))
    parts = blocks_of(model, filter_normalised(model, direction, include_bias=False))
    conv = model.get_submodule("conv2")
    assert isinstance(conv, nn.Conv2d)
    norms = parts["conv2.weight"].flatten(1).norm(dim=1)
    assert torch.allclose(norms, conv.weight.detach().flatten(1).norm(dim=1), rtol=1e-5)
    assert parts["conv2.bias"].abs().sum() == 0


def test_an_all_zero_filter_gets_a_zero_block_not_nan() -> None:
    model = ImageRun(ImageLabConfig()).model
    conv = model.get_submodule("conv1")
    assert isinstance(conv, nn.Conv2d) and conv.bias is not None
    with torch.no_grad():
        conv.weight[2] = 0.0
        conv.bias[2] = 0.0
    d1, _ = random_directions(model, seed=0)
    assert torch.isfinite(d1).all()
    assert blocks_of(model, d1)["conv1.weight"][2].abs().sum() == 0


def moved_model_loss(
    run: ImageRun, d1: torch.Tensor, d2: torch.Tensor, a: float, b: float
) -> float:
    """The loss of a copy of the run's model with every weight moved by hand, in eval mode, on
    the landscape's training images."""
    model = copy.deepcopy(run.model).eval()
    parts1, parts2 = blocks_of(model, d1), blocks_of(model, d2)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter += a * parts1[name] + b * parts2[name]
        subset = landscape_subset(len(run.data.train_x))
        logits = model(run.data.train_x[subset])
        return float(nn.CrossEntropyLoss()(logits, run.data.train_y[subset]))


def test_a_grid_value_is_the_loss_of_the_model_moved_there(trained: ImageRun) -> None:
    snapshot = take_snapshot(trained, new_trajectory(trained.model))
    plan = LandscapePlan(snapshot, resolution=5, span=0.8, seed=7)
    landscape = plan.landscape(plan.evaluate(0, plan.size))
    assert landscape.loss.shape == (5, 5) and landscape.images == LANDSCAPE_IMAGES
    for i, j in [(0, 0), (1, 3), (4, 2), (2, 2)]:
        a, b = float(landscape.alphas[j]), float(landscape.betas[i])
        expected = moved_model_loss(trained, plan.d1, plan.d2, a, b)
        assert math.isclose(float(landscape.loss[i, j]), expected, rel_tol=1e-4)
    assert landscape.alphas.tolist() == pytest.approx([-0.8, -0.4, 0.0, 0.4, 0.8])


def test_the_centre_is_the_model_s_own_loss_in_eval_mode(trained: ImageRun) -> None:
    landscape = compute_landscape(take_snapshot(trained, new_trajectory(trained.model)), 5, 1, 0)
    subset = landscape_subset(len(trained.data.train_x))
    x, y = trained.data.train_x[subset], trained.data.train_y[subset]
    model = copy.deepcopy(trained.model)
    with torch.no_grad():
        in_eval = float(nn.CrossEntropyLoss()(model.eval()(x), y))
        in_train = float(nn.CrossEntropyLoss()(model.train()(x), y))
    assert math.isclose(landscape.center_loss, in_eval, rel_tol=1e-5)
    assert not math.isclose(landscape.center_loss, in_train, rel_tol=1e-3)
    assert math.isclose(float(landscape.loss[2, 2]), in_eval, rel_tol=1e-5)


def test_the_path_ends_at_the_centre_and_the_line_joins_its_ends() -> None:
    run = ImageRun(ImageLabConfig())
    path = new_trajectory(run.model)
    path.record(0, flat_parameters(run.model), math.nan)
    start = copy.deepcopy(run.model).eval()
    for _ in range(4):
        run.train(3)
        path.record(run.step_count, flat_parameters(run.model), run.last_loss)
    landscape = compute_landscape(take_snapshot(run, path), 5, 1.0, 0)
    assert landscape.path_steps == [0, 3, 6, 9, 12]
    assert landscape.path_coords[-1].abs().max() == 0 and landscape.path_residual[-1] == 0
    assert math.isclose(float(landscape.line_loss[-1]), landscape.center_loss, rel_tol=1e-6)
    subset = landscape_subset(len(run.data.train_x))
    with torch.no_grad():
        logits = start(run.data.train_x[subset])
        first = float(nn.CrossEntropyLoss()(logits, run.data.train_y[subset]))
    assert math.isclose(float(landscape.line_loss[0]), first, rel_tol=1e-5)
    moved = (flat_parameters(run.model) - path.points()[0].params).norm()
    assert math.isclose(landscape.line_distance, float(moved), rel_tol=1e-6)


def test_the_snapshot_is_a_copy_training_does_not_change() -> None:
    run = ImageRun(ImageLabConfig())
    snapshot = take_snapshot(run, new_trajectory(run.model))
    before = flat_parameters(snapshot.model)
    run.train(2)
    assert torch.equal(flat_parameters(snapshot.model), before)
    assert torch.equal(snapshot.center, before)


def test_a_big_model_keeps_a_short_path() -> None:
    wide = ImageModelConfig(conv_blocks=[ConvBlockConfig(channels=32)] * 2, hidden_layers=[256])
    model = ImageRun(ImageLabConfig(model=wide)).model
    size = sum(p.numel() for p in model.parameters())
    assert new_trajectory(model).max_points * size <= 4_000_000
    assert new_trajectory(ImageRun(ImageLabConfig()).model).max_points == 400


@pytest.mark.parametrize(
    "bad",
    [
        {"resolution": 4},
        {"resolution": MAX_RESOLUTION + 1},
        {"span": 0},
        {"span": MAX_SPAN * 1.01},
        {"seed": -1},
        {"span": "nan"},
    ],
)
def test_limits_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        image_client_adapter.validate_python({"type": "image_landscape", **bad})


def test_the_plan_refuses_what_the_protocol_would(trained: ImageRun) -> None:
    snapshot = take_snapshot(trained, new_trajectory(trained.model))
    with pytest.raises(ValueError, match="resolution"):
        LandscapePlan(snapshot, resolution=MAX_RESOLUTION + 2, span=1.0, seed=0)
    with pytest.raises(ValueError, match="span"):
        LandscapePlan(snapshot, resolution=5, span=-1.0, seed=0)
