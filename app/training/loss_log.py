"""The loss log: one record per frame of a run's losses, learning rate and gradient health."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.training.evaluation import Evaluation
from app.training.grad_monitor import GradientStats

# The log keeps every frame's record up to this many, then keeps every other one.
MAX_HISTORY_POINTS = 10_000


@dataclass
class LossRecord:
    step: int
    epoch: float
    train: float
    test: float
    penalty: float = 0.0
    learning_rate: float = math.nan
    # Per-layer gradient health over the steps since the previous record (grad_monitor.py).
    gradients: GradientStats | None = None

    @classmethod
    def of(
        cls, evaluation: Evaluation, step: int, epoch: float, learning_rate: float
    ) -> LossRecord:
        """The record of `evaluation` at `step` (the gradient figures are added by the caller)."""
        return cls(
            step,
            epoch,
            evaluation.train_loss,
            evaluation.test_loss,
            evaluation.train_penalty,
            learning_rate,
        )


def append_record(history: list[LossRecord], record: LossRecord) -> list[LossRecord]:
    """`history` with `record` added: replacing the last one at the same step, and thinned to
    every other record past MAX_HISTORY_POINTS. A thinned log is a new list (readers on another
    thread hold the old one); otherwise `history` itself is extended."""
    if history and history[-1].step == record.step:
        if record.gradients is None:
            record.gradients = history[-1].gradients
        history[-1] = record
    else:
        history.append(record)
    if len(history) > MAX_HISTORY_POINTS:
        return history[::2] + ([record] if len(history) % 2 == 0 else [])
    return history
