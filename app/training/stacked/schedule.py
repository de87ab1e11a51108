"""Every run's learning-rate schedule at once: torch's schedulers in closed form, over runs.

torch's lr_scheduler objects step one optimizer each, in Python: a hundred of them would cost
more than the stacked step itself. Each kind's closed form (torch's own
`_get_closed_form_lr`) is evaluated for all runs in a few float64 tensor ops; it equals the
chainable form the eager schedulers use to ~1e-15 relative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from app.training.config import TrainingConfig
from app.training.optimizers import WARMUP_START_FACTOR, LRScheduler

KINDS = ("constant", "step", "exponential", "cosine", "warmup")


class Schedules:
    """Per run: the schedule kind and settings, its base rate and position (last_epoch)."""

    def __init__(
        self, trainings: Sequence[TrainingConfig], schedulers: Sequence[LRScheduler]
    ) -> None:
        def column(values: Sequence[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float64)

        self.kind = torch.tensor([KINDS.index(t.schedule) for t in trainings])
        self.base = column([float(s.base_lrs[0]) for s in schedulers])
        self.position = column([float(s.last_epoch) for s in schedulers])
        self.gamma = column([t.schedule_gamma for t in trainings])
        self.step_size = column([float(t.schedule_step_size) for t in trainings])
        self.length = column([float(t.schedule_steps) for t in trainings])
        # The eager trainer never steps a constant schedule: its position stays put.
        self.moves = self.kind != 0
        self.varies = bool(self.moves.any())

    def set_row(self, k: int, run: Schedules, restart: bool) -> None:
        """Run k's schedule from `run` (that run's alone): its kind and settings, and its base
        rate and position too when its scheduler was replaced (a new rate restarts it)."""
        names = ["kind", "gamma", "step_size", "length"] + (["base", "position"] if restart else [])
        for name in names:
            getattr(self, name)[k] = getattr(run, name)[0]
        self.moves = self.kind != 0
        self.varies = bool(self.moves.any())

    def rates(self) -> torch.Tensor:
        """Each run's learning rate for its next step, float64 [K]."""
        if not self.varies:
            return self.base
        p = self.position
        by_kind = torch.stack(
            [
                self.base,
                self.base * self.gamma.pow(torch.div(p, self.step_size, rounding_mode="floor")),
                self.base * self.gamma.pow(p),
                self.base * (1 + torch.cos(math.pi * p / self.length)) / 2,
                self.base
                * (
                    WARMUP_START_FACTOR
                    + (1 - WARMUP_START_FACTOR) * torch.minimum(p, self.length) / self.length
                ),
            ]
        )
        return by_kind.gather(0, self.kind.unsqueeze(0)).squeeze(0)

    def advance(self) -> None:
        """One optimizer step taken by every run."""
        if self.varies:
            self.position += self._moves64

    @property
    def _moves64(self) -> torch.Tensor:
        return self.moves.to(torch.float64)


def write_schedule(scheduler: LRScheduler, position: float, rate: float) -> None:
    """Put the eager scheduler (and its optimizer's rate) where the group left the run, so its
    chainable steps carry on from there."""
    state = scheduler.state_dict()
    state["last_epoch"] = int(position)
    state["_last_lr"] = [rate] * len(scheduler.optimizer.param_groups)
    scheduler.load_state_dict(state)
    for group in scheduler.optimizer.param_groups:
        group["lr"] = rate
