"""The image engine: the digits, models built from the config, and the numbers the views show."""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError

from app.training.images.config import ConvBlockConfig, ImageLabConfig, ImageModelConfig
from app.training.images.digits import load_digits
from app.training.images.model_file import ModelFileError, load_model_file, save_model_file
from app.training.images.network import DenseBlock
from app.training.images.run import ImageRun, confusion_matrix


def lab(**model: object) -> ImageLabConfig:
    return ImageLabConfig(model=ImageModelConfig.model_validate(model))


def test_the_digits_are_the_1797_images_of_the_package_split_by_seed() -> None:
    data = load_digits(0.7, seed=3)
    assert len(data.train_x) + len(data.test_x) == 1797
    assert len(data.train_x) == round(1797 * 0.7)
    assert data.train_x.shape[1:] == (1, 8, 8)
    assert float(data.train_x.min()) >= 0.0 and float(data.train_x.max()) == 1.0
    assert set(data.train_y.tolist()) == set(range(10))
    again, other = load_digits(0.7, seed=3), load_digits(0.7, seed=4)
    assert torch.equal(again.test_x, data.test_x)
    assert not torch.equal(other.test_x, data.test_x)
    assert sorted([*data.train_index, *data.test_index]) == list(range(1797))


def test_a_model_whose_maps_would_vanish_is_refused_with_the_block_named() -> None:
    blocks = [{"channels": 4, "kernel_size": 5, "padding": False, "pool": True}] * 2
    with pytest.raises(ValidationError, match="conv block 2"):
        ImageModelConfig.model_validate({"conv_blocks": blocks})
    with pytest.raises(ValidationError, match="cannot be pooled"):
        # 8 → 4 (5×5 unpadded) → 2 (pool) → 1 (pool), and the third pool has nothing left.
        ImageModelConfig.model_validate(
            {"conv_blocks": [{"kernel_size": 5, "padding": False}, {}, {}]}
        )
    assert ImageModelConfig(conv_blocks=[ConvBlockConfig()] * 3).map_sides() == [4, 2, 1]


def test_the_default_cnn_learns_the_digits() -> None:
    run = ImageRun(ImageLabConfig())
    first = run.evaluate().test_accuracy
    run.train(400)
    assert first < 0.3
    assert run.evaluate().test_accuracy >= 0.95


def test_the_same_settings_give_the_same_run_dropout_included() -> None:
    config = lab(hidden_layers=[32], dropout=0.5)
    a, b = ImageRun(config), ImageRun(config)
    losses = a.train(30)
    torch.manual_seed(12345)  # what else ran on the thread does not matter
    assert b.train(30) == losses


def test_the_test_loss_is_the_model_in_eval_mode() -> None:
    run = ImageRun(lab(conv_blocks=[], hidden_layers=[64], dropout=0.5, batchnorm=True))
    run.train(50)
    evaluation = run.evaluate()
    with torch.no_grad():
        run.model.eval()
        eval_loss = run.loss_fn(run.model(run.data.test_x), run.data.test_y).item()
        # A train-mode forward moves batch norm's running statistics: on a copy.
        in_train_mode = copy.deepcopy(run.model).train()
        train_mode_loss = run.loss_fn(in_train_mode(run.data.test_x), run.data.test_y).item()
    assert evaluation.test_loss == pytest.approx(eval_loss, rel=1e-6)
    assert abs(train_mode_loss - eval_loss) > 1e-3
    assert run.evaluate().test_loss == evaluation.test_loss


def test_batch_norm_keeps_running_statistics_that_training_moves() -> None:
    run = ImageRun(lab(batchnorm=True))
    norm = run.model.get_submodule("bn1")
    assert isinstance(norm, torch.nn.BatchNorm2d)
    assert torch.equal(norm.running_mean, torch.zeros(8))
    run.train(5)
    assert int(norm.num_batches_tracked) == 5
    assert not torch.equal(norm.running_mean, torch.zeros(8))


def test_the_confusion_matrix_counts_the_models_own_predictions() -> None:
    run = ImageRun(ImageLabConfig())
    run.train(60)
    evaluation = run.evaluate()
    with torch.no_grad():
        predicted = run.model(run.data.test_x).argmax(dim=1).tolist()
    counts = [[0] * 10 for _ in range(10)]
    for true, guess in zip(run.data.test_y.tolist(), predicted, strict=True):
        counts[true][guess] += 1
    assert evaluation.confusion.tolist() == counts
    assert int(evaluation.confusion.trace()) == round(evaluation.test_accuracy * len(predicted))
    cell = run.test_images_in_cell(3, 3, evaluation)
    assert len(cell) == counts[3][3]
    assert all(run.data.test_y[i] == 3 and predicted[i] == 3 for i in cell)


def test_confusion_matrix_rows_are_true_classes() -> None:
    table = confusion_matrix(torch.tensor([1, 1, 2]), torch.tensor([1, 2, 2]))
    assert table[1, 1] == 1 and table[1, 2] == 1 and table[2, 2] == 1 and int(table.sum()) == 3


def test_the_filters_are_the_first_layers_weights_and_gradients() -> None:
    run = ImageRun(ImageLabConfig())
    assert torch.count_nonzero(run.filters().grads) == 0
    run.step()
    conv = run.model.get_submodule("conv1")
    assert isinstance(conv, torch.nn.Conv2d) and conv.weight.grad is not None
    filters = run.filters()
    assert filters.weights.shape == (8, 3, 3)
    assert torch.equal(filters.weights, conv.weight[:, 0])
    assert torch.equal(filters.grads, conv.weight.grad[:, 0])
    mlp = ImageRun(lab(conv_blocks=[], hidden_layers=[16]))
    rows = mlp.filters().weights
    assert rows.shape == (16, 8, 8)
    assert torch.equal(rows[5].flatten(), mlp.model.get_submodule("dense1.linear").weight[5])


def test_saliency_is_the_gradient_of_the_loss_with_respect_to_the_pixels() -> None:
    # No max-pool: over the blank background a pool window holds ties, where the loss has no
    # derivative (autograd takes the first maximum's).
    run = ImageRun(lab(activation="tanh", conv_blocks=[{"channels": 4, "pool": False}]))
    run.train(30)
    image = run.data.test_x[0, 0]
    before = [p.grad.clone() for p in run.model.parameters() if p.grad is not None]
    seen = run.inspect(image, target=4)
    after = [p.grad for p in run.model.parameters() if p.grad is not None]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))

    def loss_at(pixels: torch.Tensor) -> float:
        with torch.no_grad():
            logits = run.model(pixels.reshape(1, 1, 8, 8).double())
            return float(torch.nn.functional.cross_entropy(logits, torch.tensor([4])))

    run.model.double()
    step = 1e-6
    for row, col in [(2, 3), (4, 4), (6, 1)]:
        up, down = image.double().clone(), image.double().clone()
        up[row, col] += step
        down[row, col] -= step
        numeric = (loss_at(up) - loss_at(down)) / (2 * step)
        assert float(seen.saliency[row, col]) == pytest.approx(numeric, rel=1e-3, abs=1e-6)


def test_inspection_shows_every_stage_and_a_softmax() -> None:
    run = ImageRun(ImageLabConfig())
    seen = run.inspect(run.data.test_x[1, 0])
    names = [name for name, _ in seen.stages]
    assert names == ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "output"]
    shapes = {name: tuple(out.shape) for name, out in seen.stages}
    assert shapes["conv1"] == (8, 8, 8) and shapes["pool2"] == (16, 2, 2)
    assert float(seen.probabilities.sum()) == pytest.approx(1.0, rel=1e-6)
    assert seen.target == int(seen.probabilities.argmax())


def test_a_residual_dense_block_adds_its_input() -> None:
    block = DenseBlock(6, 6, "relu", batchnorm=False, residual=True)
    x = torch.randn(3, 6)
    assert torch.allclose(block(x), torch.relu(block.linear(x)) + x)
    assert not DenseBlock(6, 4, "relu", batchnorm=False, residual=True).residual


def test_a_live_learning_rate_change_keeps_weights_and_adam_state() -> None:
    run = ImageRun(ImageLabConfig())
    run.train(5)
    weights = [p.clone() for p in run.model.parameters()]
    state = run.optimizer.state[next(iter(run.model.parameters()))]["exp_avg"].clone()
    changed = run.config.model_copy(
        update={"training": run.config.training.model_copy(update={"learning_rate": 0.001})}
    )
    run.set_training(changed)
    assert all(torch.equal(a, b) for a, b in zip(weights, run.model.parameters(), strict=True))
    assert torch.equal(run.optimizer.state[next(iter(run.model.parameters()))]["exp_avg"], state)
    assert run.optimizer.param_groups[0]["lr"] == 0.001


def test_a_diverging_step_is_not_taken_and_the_last_finite_weights_stay() -> None:
    training = {"optimizer": "sgd", "learning_rate": 10.0, "momentum": 0.9}
    config = ImageLabConfig.model_validate(
        {"model": {"conv_blocks": [], "hidden_layers": [64, 64], "activation": "elu"}}
        | {"training": training}
    )
    run = ImageRun(config)
    losses = run.train(30)
    assert any(loss != loss for loss in losses)  # NaN: measured by the 9th step
    assert all(bool(p.isfinite().all()) for p in run.model.parameters())
    assert run.step_count == losses.index(next(x for x in losses if x != x))


def test_five_phases_are_one_step_bit_for_bit() -> None:
    config = lab(hidden_layers=[16], dropout=0.4, batchnorm=True)
    played, phased = ImageRun(config), ImageRun(config)
    losses = played.train(4)
    seen = []
    for _ in range(4):
        for expected in ("zero_grad", "forward", "loss", "backward", "step"):
            assert phased.step_phase() == expected
        seen.append(phased.last_loss)
    assert seen == losses
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            played.model.state_dict().values(), phased.model.state_dict().values(), strict=True
        )
    )
    phased.step_phase()
    phased.step_phase()  # mid-step: Step finishes this one
    assert phased.mid_step and phased.next_phase == "loss"
    assert phased.step() == played.step() and not phased.mid_step


@pytest.mark.parametrize("model", [{}, {"conv_blocks": [], "hidden_layers": [16]}])
def test_one_sample_by_hand_autograd_agrees_with_a_finite_difference(
    model: dict[str, object],
) -> None:
    run = ImageRun(lab(**model))
    run.train(40)
    side = 3 if not model else 8
    for sample, unit, row, col in [(0, 1, 1, 1), (7, 3, 0, side - 1), (20, 0, side - 1, 0)]:
        check = run.check_first_layer_weight(sample, unit, row, col)
        assert check.label == int(run.data.train_y[sample])
        assert check.autograd == pytest.approx(check.numeric, rel=1e-3, abs=1e-6)
        layer = run.model.get_submodule("conv1" if not model else "dense1.linear").weight
        where = (unit, 0, row, col) if not model else (unit, row * 8 + col)
        assert check.value == float(layer.detach()[where])


def test_a_model_file_whose_weights_do_not_fit_its_settings_is_refused() -> None:
    run = ImageRun(ImageLabConfig())
    raw = save_model_file(run.config, run.model, 0)
    config, state, step = load_model_file(raw)
    assert config == run.config and step == 0
    other = ImageRun(lab(conv_blocks=[{"channels": 4}, {"channels": 16}]))
    mismatched = save_model_file(run.config, other.model, 0)
    with pytest.raises(ModelFileError, match="shape differs"):
        load_model_file(mismatched)
    with pytest.raises(ModelFileError, match="at most"):
        load_model_file(raw, max_bytes=100)
    broken = copy.deepcopy(run.model)
    with torch.no_grad():
        broken.get_parameter("output.bias")[0] = float("nan")
    with pytest.raises(ModelFileError, match="not a finite number"):
        load_model_file(save_model_file(run.config, broken, 0))
