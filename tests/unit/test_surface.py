"""The loss surface: batched equals naive, directions are normalised, paths project truly."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.nn.utils import vector_to_parameters

from app.realtime.surface_runner import MIN_FOLLOW_SECONDS, follow_due
from app.training.datasets import make_dataset
from app.training.directions import (
    flat_params,
    linear_parameters,
    pca_directions,
    project_path,
    random_directions,
    weight_directions,
)
from app.training.model import MLP, build_model, initialise
from app.training.surface import loss_along_line, loss_surface, loss_surface_naive

ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear", "leaky_relu", "elu", "gelu", "prelu"]
NN_LOSSES = {"bce": nn.BCEWithLogitsLoss, "mse": nn.MSELoss, "cross_entropy": nn.CrossEntropyLoss}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # Tiny ops on two threads of a shared 2-core machine run up to 5× slower; restore afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def problem(loss: str, activation: str, seed: int = 0) -> tuple[MLP, torch.Tensor, torch.Tensor]:
    """A small net, with data and targets in the form each loss takes."""
    data = make_dataset("spiral", 120, 0.2, 0.5, seed)
    x = data.train_x
    n_outputs = 3 if loss == "cross_entropy" else 1
    model = MLP(2, [5, 4], n_outputs, activation)  # type: ignore[arg-type]
    initialise(model, "default", torch.Generator().manual_seed(seed))
    if loss == "bce":
        y = data.train_y
    elif loss == "mse":
        y = torch.sin(x[:, :1]) + 0.1 * x[:, 1:]
    else:
        y = (x[:, 0] > 1).long() + (x[:, 1] > 0).long()  # classes 0, 1, 2
    return model, x, y


def loss_at(model: MLP, loss: str, x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> float:
    probe = copy.deepcopy(model)
    vector_to_parameters(theta, linear_parameters(probe))
    with torch.no_grad():
        return float(NN_LOSSES[loss]()(probe(x), y))


@pytest.mark.parametrize("loss", ["bce", "mse", "cross_entropy"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_batched_surface_equals_the_naive_loop_at_every_grid_point(
    loss: str, activation: str
) -> None:
    model, x, y = problem(loss, activation)
    center = flat_params(model)
    d1, d2 = random_directions(model, seed=3)
    # A chunk that does not divide the 49 points exercises the short last chunk.
    fast = loss_surface(model, loss, x, y, center, d1, d2, span=2.0, resolution=7, chunk=10)  # type: ignore[arg-type]
    slow = loss_surface_naive(model, loss, x, y, center, d1, d2, span=2.0, resolution=7)  # type: ignore[arg-type]
    assert fast.loss.shape == (7, 7) and fast.loss.dtype == torch.float32
    assert slow.loss.std() > 1e-3, "a flat surface would make the comparison meaningless"
    torch.testing.assert_close(fast.loss, slow.loss, rtol=1e-5, atol=1e-5)
    assert fast.finite.all()


def test_rows_follow_the_second_direction_and_columns_the_first() -> None:
    model, x, y = problem("bce", "tanh")
    center = flat_params(model)
    d1, d2 = random_directions(model, seed=4)
    surface = loss_surface(model, "bce", x, y, center, d1, d2, span=1.5, resolution=5)
    i, j = 0, 3  # beta = −1.5, alpha = 0.75
    assert (surface.alphas[j], surface.betas[i]) == (0.75, -1.5)
    expected = loss_at(model, "bce", x, y, center + 0.75 * d1 - 1.5 * d2)
    assert surface.loss[i, j].item() == pytest.approx(expected, rel=1e-5)
    assert surface.loss[j, i].item() != pytest.approx(expected, rel=1e-3)


def test_overflowing_grid_points_come_back_as_nan_and_flagged() -> None:
    model, x, y = problem("mse", "linear")
    center = flat_params(model)
    d1, d2 = random_directions(model, seed=5)
    huge = torch.full_like(center, 1e15)  # logits ~1e45 overflow float32, squared even more so
    surface = loss_surface(model, "mse", x, y, center, huge, d2, span=1.0, resolution=5)
    middle = surface.alphas == 0
    assert surface.finite[:, middle].all() and not surface.finite[:, ~middle].any()
    assert surface.loss[:, ~middle].isnan().all()


def test_the_surface_at_the_center_is_the_models_own_loss() -> None:
    model = build_model(2, [8, 8], "tanh", "default", seed=1)
    data = make_dataset("circle", 200, 0.1, 0.5, seed=1)
    d1, d2 = random_directions(model, seed=1)
    surface = loss_surface(
        model, "bce", data.train_x, data.train_y, flat_params(model), d1, d2, resolution=21
    )
    with torch.no_grad():
        own = nn.BCEWithLogitsLoss()(model(data.train_x), data.train_y).item()
    assert surface.loss[10, 10].item() == pytest.approx(own, rel=1e-6)


def neuron_blocks(model: MLP, vector: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's (out, in + 1) matrix of [incoming weights | bias], one row per neuron."""
    probe = copy.deepcopy(model)
    vector_to_parameters(vector, linear_parameters(probe))
    layers = [layer for layer in probe.layers if isinstance(layer, nn.Linear)]
    return [torch.cat([layer.weight, layer.bias[:, None]], 1).detach() for layer in layers]


@pytest.mark.parametrize("init", ["default", "playground", "kaiming"])
def test_filter_normalisation_gives_each_neuron_block_the_norm_of_that_neurons_weights(
    init: str,
) -> None:
    model = build_model(2, [6, 5], "relu", init, seed=7)  # type: ignore[arg-type]
    for direction in random_directions(model, seed=11):
        for d_block, w_block in zip(
            neuron_blocks(model, direction), neuron_blocks(model, flat_params(model)), strict=True
        ):
            torch.testing.assert_close(d_block.norm(dim=1), w_block.norm(dim=1))
            assert not torch.allclose(d_block, w_block), "a direction must not copy the weights"


def test_without_biases_the_bias_directions_are_zero_and_rows_match_the_weight_norms() -> None:
    model = build_model(2, [6, 5], "relu", "playground", seed=7)
    d1, _ = random_directions(model, seed=11, include_bias=False)
    for d_block, w_block in zip(
        neuron_blocks(model, d1), neuron_blocks(model, flat_params(model)), strict=True
    ):
        assert (d_block[:, -1] == 0).all()
        torch.testing.assert_close(d_block[:, :-1].norm(dim=1), w_block[:, :-1].norm(dim=1))


def test_random_directions_are_seeded() -> None:
    model = build_model(2, [4], "tanh", "default", seed=0)
    a, b = random_directions(model, seed=1), random_directions(model, seed=1)
    c = random_directions(model, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[0], a[1])


def test_a_path_along_the_first_direction_projects_onto_its_axis() -> None:
    model = build_model(2, [8, 8], "tanh", "default", seed=2)
    center = flat_params(model)
    d1, d2 = random_directions(model, seed=2)  # not orthogonal to each other
    steps = torch.linspace(-1.0, 1.0, 9)
    coords, residual = project_path([center + t * d1 for t in steps], center, d1, d2)
    torch.testing.assert_close(coords[:, 0], steps, atol=1e-5, rtol=0)
    torch.testing.assert_close(coords[:, 1], torch.zeros(9), atol=1e-5, rtol=0)
    assert residual.max() < 1e-5


def test_the_residual_is_the_distance_off_the_plane() -> None:
    model = build_model(2, [8, 8], "tanh", "default", seed=2)
    center = flat_params(model)
    d1, d2 = random_directions(model, seed=2)
    basis = torch.stack([d1, d2], 1).double()
    off = torch.randn(center.shape, dtype=torch.float64)
    off -= basis @ torch.linalg.lstsq(basis, off[:, None]).solution[:, 0]  # ⟂ to the plane
    off = (off / off.norm() * 3.0).float()
    coords, residual = project_path([center + 0.5 * d1 - 0.25 * d2 + off], center, d1, d2)
    torch.testing.assert_close(coords[0], torch.tensor([0.5, -0.25]), atol=1e-5, rtol=0)
    assert residual[0].item() == pytest.approx(3.0, rel=1e-5)


def test_pca_directions_of_a_path_in_a_plane_recover_that_plane() -> None:
    generator = torch.Generator().manual_seed(0)
    center = torch.randn(60, generator=generator)
    u, v = torch.randn(2, 60, generator=generator)  # a plane, not orthonormal
    a = torch.linspace(-2.0, 0.0, 30)
    b = torch.sin(3 * a)  # a curved walk, so both directions carry variance
    path = [center + ai * u + bi * v for ai, bi in zip(a, b, strict=True)]
    pca = pca_directions(path)
    torch.testing.assert_close(
        torch.stack([pca.d1, pca.d2]) @ torch.stack([pca.d1, pca.d2]).T,
        torch.eye(2),
        atol=1e-5,
        rtol=0,
    )
    _, residual = project_path([center + u, center + v], center, pca.d1, pca.d2)
    assert residual.max() < 1e-4 * u.norm()
    assert pca.explained.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert pca.explained[0] >= pca.explained[1] > 0.01


def test_pca_directions_point_so_the_path_arrives_from_negative_coordinates() -> None:
    generator = torch.Generator().manual_seed(1)
    path = list(torch.randn(10, 30, generator=generator).cumsum(0))
    pca = pca_directions(path)
    coords, _ = project_path(path, path[-1], pca.d1, pca.d2)
    assert (coords[0] <= 0).all()


def test_pca_needs_two_points() -> None:
    with pytest.raises(ValueError):
        pca_directions([torch.zeros(5)])


def test_weight_directions_move_exactly_the_two_chosen_weights() -> None:
    model = build_model(2, [4, 3], "relu", "default", seed=0)
    d1, d2 = weight_directions(model, (1, 2, 3), (0, 1, 0))
    assert d1.norm() == d2.norm() == 1.0
    moved = copy.deepcopy(model)
    vector_to_parameters(flat_params(model) + 0.5 * d1 - 2.0 * d2, moved.parameters())
    changes = [
        (p - q).detach() for p, q in zip(moved.parameters(), model.parameters(), strict=True)
    ]
    assert changes[2][2, 3] == pytest.approx(0.5) and changes[0][1, 0] == pytest.approx(-2.0)
    assert sum(int(c.count_nonzero()) for c in changes) == 2


def test_weight_directions_reject_missing_or_identical_weights() -> None:
    model = build_model(2, [4], "relu", "default", seed=0)
    with pytest.raises(IndexError):
        weight_directions(model, (0, 4, 0), (0, 0, 0))
    with pytest.raises(ValueError):
        weight_directions(model, (0, 1, 1), (0, 1, 1))


@pytest.mark.parametrize("loss", ["bce", "cross_entropy"])
def test_the_line_from_start_to_end_begins_and_ends_at_their_losses(loss: str) -> None:
    model, x, y = problem(loss, "tanh")
    start = flat_params(model)
    end = start + random_directions(model, seed=9)[0] * 1.5
    line = loss_along_line(model, loss, x, y, start, end, n=11)  # type: ignore[arg-type]
    assert line.ts[0] == 0.0 and line.ts[-1] == 1.0
    assert line.loss[0].item() == pytest.approx(loss_at(model, loss, x, y, start), rel=1e-5)
    assert line.loss[-1].item() == pytest.approx(loss_at(model, loss, x, y, end), rel=1e-5)
    midway = loss_at(model, loss, x, y, 0.5 * start + 0.5 * end)
    assert line.loss[5].item() == pytest.approx(midway, rel=1e-5)
    assert line.finite.all()


def test_center_and_directions_of_the_wrong_size_are_refused() -> None:
    model, x, y = problem("bce", "relu")
    center = flat_params(model)
    with pytest.raises(ValueError):
        loss_surface(model, "bce", x, y, center, center[:-1], center, resolution=3)


def test_following_waits_for_the_steps_and_rests_four_times_as_long_as_a_surface_took() -> None:
    assert not follow_due(99, 100, rested=10.0, last_compute=0.02)  # not moved enough
    assert not follow_due(5000, 0, rested=10.0, last_compute=0.02)  # following is off
    assert not follow_due(100, 100, rested=MIN_FOLLOW_SECONDS - 0.01, last_compute=0.02)
    assert follow_due(100, 100, rested=MIN_FOLLOW_SECONDS, last_compute=0.02)
    # A surface that took a second: the next one only after four more, so following takes at
    # most a fifth of the time of the thread it shares with training.
    assert not follow_due(100, 100, rested=3.9, last_compute=1.0)
    assert follow_due(100, 100, rested=4.0, last_compute=1.0)
