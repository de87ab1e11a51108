"""Divergence is decided step by step, so where a run blows up does not depend on how its
steps were cut into bursts (frames)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from app.training.config import LabConfig, ModelConfig, TrainingConfig
from app.training.divergence import CHECK_EVERY_STEPS
from app.training.session import Divergence, TrainingSession

# Sigmoid at a learning rate of 10 on the circle: the training loss doubles, yet stays finite.
DOUBLING = LabConfig(
    model=ModelConfig(activation="sigmoid"), training=TrainingConfig(learning_rate=10.0)
)
# No activation at a learning rate of 10: the weights overflow to inf and the loss to NaN.
OVERFLOWING = LabConfig(
    model=ModelConfig(activation="linear"), training=TrainingConfig(learning_rate=10.0)
)
MAX_STEPS = 400


def bursts_until_divergence(
    config: LabConfig, sizes: list[int]
) -> tuple[TrainingSession, Divergence, int]:
    """The session, its first divergence, and the step its last burst started at."""
    session = TrainingSession(config)
    for size in sizes:
        start = session.step_count
        divergence = session.burst(size).divergence
        if divergence is not None:
            return session, divergence, start
    raise AssertionError(f"no divergence in {session.step_count} steps")


BURSTS = {
    "one burst": [MAX_STEPS],
    "bursts of one step": [1] * MAX_STEPS,
    "bursts of random sizes": random.Random(3).choices(range(1, 40), k=MAX_STEPS),
}


@pytest.mark.parametrize("config", [DOUBLING, OVERFLOWING], ids=["doubling", "overflowing"])
def test_a_run_diverges_at_the_same_step_whatever_its_bursts(config: LabConfig) -> None:
    found = [bursts_until_divergence(config, sizes)[1] for sizes in BURSTS.values()]
    assert len({(d.step, d.reason) for d in found}) == 1, found


def test_a_loss_that_doubled_stops_the_run_there_with_its_finite_weights() -> None:
    for sizes in BURSTS.values():
        session, divergence, _ = bursts_until_divergence(DOUBLING, sizes)
        assert "rose above twice" in divergence.reason
        assert divergence.step % CHECK_EVERY_STEPS == 0
        assert session.step_count == divergence.restored_step == divergence.step
        assert session.history[-1].train > 2 * session.history[0].train


def test_weights_gone_non_finite_roll_back_to_the_last_burst_start_with_usable_weights() -> None:
    for sizes in BURSTS.values():
        session, divergence, start = bursts_until_divergence(OVERFLOWING, sizes)
        # Bursts of one step may start on weights the previous step overflowed; those are
        # skipped, so the run goes back a step or two further than the burst's start.
        assert session.step_count == divergence.restored_step <= start < divergence.step
        assert all(torch.isfinite(p).all() for p in session.model.parameters())
        assert math.isfinite(session.history[-1].train)


def test_a_loss_jump_from_a_change_by_hand_is_not_divergence_but_a_doubling_after_it_is() -> None:
    # Tanh-trained weights under ReLU: the loss starts far above twice the first one (8x here).
    session = TrainingSession()
    first = session.evaluate().train_loss
    session.train_steps(3000)
    session.set_training(learning_rate=0.0001)
    session.set_activation("relu")
    jumped = session.evaluate().train_loss
    assert jumped > 2 * first, "the premise: the switch alone moves the loss past the limit"
    assert session.burst(2 * CHECK_EVERY_STEPS).divergence is None
    assert session.divergence_reference == pytest.approx(jumped)


def test_points_drawn_by_hand_move_the_reference_with_the_loss() -> None:
    session = TrainingSession()
    session.train_steps(2000)
    before = session.evaluate().train_loss
    # Points of the wrong class right where the run is sure: the loss jumps at once.
    data = session.data
    points = zip(data.train_x[:200].tolist(), data.train_y[:200].flatten().tolist(), strict=True)
    wrong = [(x, y, 1.0 - c) for (x, y), c in points]
    session.edit_points(add=wrong, remove=[])
    assert session.evaluate().train_loss > 2 * before
    assert session.divergence_reference == pytest.approx(session.evaluate().train_loss)
