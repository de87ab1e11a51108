"""Divergence: when a run has blown up (a non-finite loss, weights racing to inf, or a
training loss that doubled), so the trainer rolls back to its last rollback point."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from app.training.model import MLP

# Past this a run is called diverged even while its loss is still finite: the weights are
# on their way to inf and every picture has stopped meaning anything.
DIVERGED_PARAMETER_MAGNITUDE = 1e6
# BCE with logits is numerically stable, so a far too high learning rate rarely makes NaN: the
# loss bounces above where it started instead. Twice the starting loss is not a wobble.
DIVERGED_LOSS_FACTOR = 2.0


@dataclass
class Divergence:
    step: int
    restored_step: int
    reason: str


def loss_problem(loss: float) -> str | None:
    """Why one step's batch loss means divergence, or None."""
    if not math.isfinite(loss):
        return f"the loss became {loss}"
    return None


def parameter_problem(model: MLP) -> str | None:
    """Why the parameters mean divergence (non-finite, or past the magnitude limit), or None."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            largest = p.abs().max().item()
            if not math.isfinite(largest):
                return f"parameter {name} became non-finite"
            if largest > DIVERGED_PARAMETER_MAGNITUDE:
                return f"parameter {name} grew past {DIVERGED_PARAMETER_MAGNITUDE:g}"
    return None


def training_loss_problem(train_loss: float, reference: float) -> str | None:
    """Why the loss on all training points means divergence (it rose above twice
    `reference`), or None."""
    if train_loss > DIVERGED_LOSS_FACTOR * reference:
        return f"the training loss {train_loss:.3g} rose above twice {reference:.3g}"
    return None
