"""The batched engine for image runs: a grouped step is the eager ImageRun.step() of each
member, to float32 rounding, for every optimizer; members join, leave and diverge alone."""

from __future__ import annotations

import math

import pytest
import torch

from app.training.config import OptimizerName, TrainingConfig
from app.training.images.config import ImageLabConfig, ImageModelConfig
from app.training.images.digits import ImageDataset, load_digits
from app.training.images.run import ImageRun
from app.training.images.stacked import ImageGroup, grouping_problem, image_shape

OPTIMIZERS: list[OptimizerName] = ["sgd", "adam", "adamw", "rmsprop", "adagrad"]
# Float32 rounding: the vmapped kernels sum in other orders than the eager ones. The weights
# agree to 1e-6 of their scale; a gradient is a sum over the batch and the map (conv1's bias:
# 2,048 terms that mostly cancel) and was measured off by up to 1.7e-6 of its scale there,
# which the optimizer state (g, g²) carries.
RELATIVE = 1e-6
GRADIENT_RELATIVE = 4e-6


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_digits(0.7, 0)


def config(seed: int, optimizer: OptimizerName = "adam", **training: object) -> ImageLabConfig:
    """A small CNN with a dense layer and dropout; member `seed` has its own settings."""
    options: dict[str, object] = {
        "optimizer": optimizer,
        "learning_rate": 0.01 * (seed + 1),
        "batch_size": 32,
        "momentum": 0.9 if seed % 2 else 0.0,
        "nesterov": seed == 3,
        "beta1": 0.9 - 0.05 * seed,
        "beta2": 0.999 - 0.001 * seed,
        "eps": 1e-8 * (seed + 1),
        "weight_decay": 0.01 * seed,
        "grad_clip_norm": 0.3 if seed % 2 else 0.0,
        "schedule": ["constant", "cosine", "step", "exponential", "warmup"][seed % 5],
        "schedule_step_size": 2,
        "schedule_gamma": 0.7,
        "schedule_steps": 5,
        **training,
    }
    model = ImageModelConfig(seed=seed, hidden_layers=[24], dropout=0.1 * (seed + 1))
    return ImageLabConfig(model=model, training=TrainingConfig.model_validate(options))


def twins(configs: list[ImageLabConfig], data: ImageDataset) -> tuple[list[ImageRun], ...]:
    """Two runs per config that start identical: one for the group, one stepped eagerly."""
    return [ImageRun(c, data) for c in configs], [ImageRun(c, data) for c in configs]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str, relative: float) -> None:
    """Every value within `relative` of the tensor's scale (its largest magnitude)."""
    scale = float(expected.abs().max())
    error = float((actual - expected).abs().max())
    assert error <= relative * scale, f"{what}: error {error:.3g} at scale {scale:.3g}"


def assert_same_run(
    grouped: ImageRun,
    eager: ImageRun,
    relative: float = RELATIVE,
    gradient_relative: float = GRADIENT_RELATIVE,
) -> None:
    """Weights, gradients, optimizer state, schedule, counters and batch order agree."""
    assert grouped.step_count == eager.step_count
    assert grouped.sampler.position() == eager.sampler.position()
    assert torch.equal(grouped._rng_state, eager._rng_state)  # the same dropout draws
    assert math.isclose(grouped.last_loss, eager.last_loss, rel_tol=1e-5) or (
        math.isnan(grouped.last_loss) and math.isnan(eager.last_loss)
    )
    assert grouped.scheduler.last_epoch == eager.scheduler.last_epoch
    assert math.isclose(
        grouped.optimizer.param_groups[0]["lr"],
        eager.optimizer.param_groups[0]["lr"],
        rel_tol=1e-12,
    )
    named = zip(grouped.model.named_parameters(), eager.model.named_parameters(), strict=True)
    for (name, p), (_, q) in named:
        assert_close(p.detach(), q.detach(), f"{name}", relative)
        assert p.grad is not None and q.grad is not None
        assert_close(p.grad, q.grad, f"{name}.grad", gradient_relative)
        state, expected = grouped.optimizer.state.get(p, {}), eager.optimizer.state.get(q, {})
        assert {k for k in expected} <= set(state), name
        for key, value in expected.items():
            if key == "step":
                assert float(state[key]) == float(value), f"{name} step"
            else:
                assert_close(state[key], value, f"{name} {key}", gradient_relative)


def train_alone(runs: list[ImageRun], steps: int) -> None:
    for run in runs:
        for _ in range(steps):
            run.step()


def test_the_shape_is_what_the_stacked_computation_depends_on(digits: ImageDataset) -> None:
    base = ImageRun(config(0), digits)
    same = ImageRun(config(2, learning_rate=0.5, grad_clip_norm=1.0), digits)
    assert image_shape(same) == image_shape(base)  # seed, rate, dropout rate, clipping: per run
    for other in (
        config(0, optimizer="sgd"),
        config(0, batch_size=16),
        config(0).model_copy(update={"model": ImageModelConfig(hidden_layers=[32])}),
        config(0).model_copy(update={"model": ImageModelConfig(hidden_layers=[24])}),  # no dropout
    ):
        assert image_shape(ImageRun(other, digits)) != image_shape(base)
    with pytest.raises(ValueError, match="does not match"):
        ImageGroup([base, ImageRun(config(0, optimizer="sgd"), digits)])


def test_batch_norm_and_a_half_done_step_keep_a_run_eager(digits: ImageDataset) -> None:
    normed = config(0).model_copy(update={"model": ImageModelConfig(batchnorm=True)})
    assert grouping_problem(ImageRun(normed, digits)) is not None
    halfway = ImageRun(config(0), digits)
    assert grouping_problem(halfway) is None
    halfway.step_phase()
    assert grouping_problem(halfway) == "a phase-by-phase step is half done"
    with pytest.raises(ValueError, match="half done"):
        ImageGroup([halfway])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_one_grouped_step_is_each_members_eager_step(
    digits: ImageDataset, optimizer: OptimizerName
) -> None:
    configs = [config(seed, optimizer) for seed in range(4)]
    grouped, eager = twins(configs, digits)
    # From a state with optimizer state and schedules under way (the runs are bit-identical).
    train_alone(grouped + eager, 3)
    group = ImageGroup(grouped)
    losses = group.train_steps(1)
    expected = [run.step() for run in eager]
    for k, run in enumerate(grouped):
        group.sync_out(run)
        assert math.isclose(float(losses[0, k]), expected[k], rel_tol=1e-5)
        assert_same_run(run, eager[k])


def test_a_short_last_batch_of_an_epoch_is_stepped_as_its_own_length(
    digits: ImageDataset,
) -> None:
    """1,257 training images in batches of 32: the 40th batch of an epoch holds 9."""
    grouped, eager = twins([config(0, "sgd"), config(1, "sgd")], digits)
    train_alone([grouped[0], eager[0]], 39)  # member 0 is at its epoch's short batch
    group = ImageGroup(grouped)
    group.train_steps(1)
    for run, twin in zip(grouped, eager, strict=True):
        twin.step()
        group.sync_out(run)
        assert_same_run(run, twin)
    assert grouped[0].sampler.position().cursor == len(digits.train_x)


def test_members_join_and_leave_with_their_state_and_step_on_eagerly(
    digits: ImageDataset,
) -> None:
    configs = [config(seed, "adam", learning_rate=0.002) for seed in range(3)]
    grouped, eager = twins(configs, digits)
    group = ImageGroup(grouped[:2])
    group.train_steps(2)
    group.join(grouped[2])  # a newcomer that has not stepped yet
    group.train_steps(2)
    group.leave(grouped[1])
    train_alone([grouped[1]], 2)  # eagerly, from where the group left it
    group.train_steps(2)
    train_alone(eager[:2], 6)
    train_alone(eager[2:], 4)
    # A few steps: float32 rounding differences grow a little with each step.
    assert_same_run(grouped[1], eager[1], 1e-5, 1e-4)
    for run, twin in ((grouped[0], eager[0]), (grouped[2], eager[2])):
        group.sync_out(run)
        assert_same_run(run, twin, 1e-5, 1e-4)
    # The leaver's weights are its own again: the group's steps no longer move them.
    weights = [p.detach().clone() for p in grouped[1].model.parameters()]
    group.train_steps(1)
    assert all(
        torch.equal(w, p) for w, p in zip(weights, grouped[1].model.parameters(), strict=True)
    )


def test_leaving_and_joining_again_changes_nothing(digits: ImageDataset) -> None:
    configs = [config(seed, "rmsprop", learning_rate=0.001) for seed in range(3)]
    grouped, reference = twins(configs, digits)
    moved, stayed = ImageGroup(grouped), ImageGroup(reference)
    moved.train_steps(2)
    moved.leave(grouped[0])
    moved.join(grouped[0])
    moved.train_steps(2)
    stayed.train_steps(4)
    for run, twin in zip(grouped, reference, strict=True):
        moved.sync_out(run)
        stayed.sync_out(twin)
        assert_same_run(run, twin)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_diverging_member_leaves_the_others_finite_and_skips_its_steps_as_eagerly(
    digits: ImageDataset, optimizer: OptimizerName
) -> None:
    tame = config(1, optimizer, grad_clip_norm=0.0)
    # Past the page's limit (10), so that it surely overflows within a few steps.
    wild = tame.model_copy(
        update={"training": tame.training.model_copy(update={"learning_rate": 1e12})}
    )
    configs = [config(0, optimizer), wild, config(2, optimizer)]
    grouped, eager = twins(configs, digits)
    group = ImageGroup(grouped)
    steps = 0
    while math.isfinite(eager[1].step()):  # the wild run's eager twin, to its first NaN/inf
        steps += 1
        assert steps < 50, "the wild run did not diverge"
    train_alone([eager[0], eager[2]], steps + 1)
    losses = group.train_steps(steps + 3)
    eager[1].step(), eager[1].step()  # skipped too: weights and state stay put
    train_alone([eager[0], eager[2]], 2)
    assert math.isnan(float(losses[steps, 1])) and math.isnan(float(losses[-1, 1]))
    assert bool(losses[:, [0, 2]].isfinite().all())
    for run in (grouped[0], grouped[2]):
        group.sync_out(run)
        values = [p.detach() for p in run.model.parameters()]
        values += [p.grad for p in run.model.parameters() if p.grad is not None]
        values += [v for s in run.optimizer.state.values() for v in s.values()]
        assert all(bool(v.isfinite().all()) for v in values)
    group.sync_out(grouped[1])
    assert grouped[1].step_count == eager[1].step_count == steps
    for p, q in zip(grouped[1].model.parameters(), eager[1].model.parameters(), strict=True):
        assert bool(p.isfinite().all())
        assert_close(p.detach(), q.detach(), "the wild run's last finite weights", 1e-4)
