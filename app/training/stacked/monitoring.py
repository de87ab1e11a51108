"""The members' gradient monitors, fed on the steps each would sample when training eagerly.

A GradientMonitor samples every SAMPLE_EVERY_STEPS-th step after a collect() (grad_monitor.py):
the group works out which steps of a burst those are for each member and, on those steps
only, points that member's weight gradients at its rows and calls the monitor's own
before_step() / after_step(), so a frame's gradient figures are the eager run's. Calling every
member's monitor on every step would cost K Python calls a step; this costs K per sample.

It reads and moves the monitor's step counter (`_since_collect`) directly: the one place that
does, keeping it exactly where K eager before_step() calls would have left it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from app.training.grad_monitor import SAMPLE_EVERY_STEPS
from app.training.stacked.network import Slot
from app.training.trainer import TrainingSession


class MemberMonitors:
    def __init__(self, members: Sequence[TrainingSession], slots: Sequence[Slot]) -> None:
        self.members = list(members)
        # Which stacked tensor holds layer i's weight.
        names = [s.name for s in slots]
        self.weight_slots = [
            names.index(f"layers.{i}.weight") for i in range(len(members[0].model.layers))
        ]
        self._due: dict[int, list[int]] = {}
        self._start: list[int] = []
        self._has_grad: list[list[bool]] = []

    def plan(self, steps: int, has_grad: Sequence[torch.Tensor]) -> None:
        """Which members sample which of the next `steps` steps; `has_grad`: per parameter,
        which runs' rows have a gradient (bool [K])."""
        self._has_grad = [has_grad[slot].tolist() for slot in self.weight_slots]
        due: dict[int, list[int]] = defaultdict(list)
        self._start = [m.gradient_monitor._since_collect for m in self.members]
        for k, done in enumerate(self._start):
            for i in range((-done) % SAMPLE_EVERY_STEPS, steps, SAMPLE_EVERY_STEPS):
                due[i].append(k)
        self._due = due

    def before_step(self, step: int, grads: Sequence[torch.Tensor]) -> None:
        """After backward, before clipping and the update: the raw gradients."""
        for k in self._due.get(step, ()):
            model = self.members[k].model
            for layer, slot, has in zip(
                model.layers, self.weight_slots, self._has_grad, strict=True
            ):
                weight = layer.weight
                assert isinstance(weight, torch.Tensor)
                weight.grad = grads[slot][k] if has[k] else None
            monitor = self.members[k].gradient_monitor
            monitor._since_collect = self._start[k] + step  # where its eager count would be
            monitor.before_step()

    def after_step(self, step: int) -> None:
        for k in self._due.get(step, ()):
            self.members[k].gradient_monitor.after_step()

    def finish(self, steps: int) -> None:
        """Every member's counter as if it had seen each step."""
        for member, start in zip(self.members, self._start, strict=True):
            member.gradient_monitor._since_collect = start + steps
        self._due = {}
