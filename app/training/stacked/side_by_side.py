"""A block's update over all its parameter slots at once, laid side by side.

The rules update one parameter slot at a time, ~15 small tensor ops each, and for Adam alone
that was 60 % of the update of a group holding all six optimizer settings (py-spy, 20 runs
of 2→[4,2]→1: 6 slots × 15 ops). When every row of every slot has a gradient and the slots
agree on every per-row count and flag (torch counts a parameter's step only when it has a
gradient, so a layer frozen for a while lags), the slots side by side, [rows, all weights],
take one step of the rule. Its ops are elementwise and none mixes two elements, so the layout
changes no bit (test_stacked_side_by_side checks it against slot by slot). Plain SGD keeps its
one foreach call (blocks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from app.training.stacked.updates import SlotState, StepInputs

Rule = Callable[[torch.Tensor, torch.Tensor, SlotState, StepInputs], None]


def can_go_side_by_side(states: Sequence[SlotState], whole: Sequence[bool]) -> bool:
    """Every row of every slot has a gradient, and the slots agree on every per-row count and
    flag (step, which state entries exist): so they keep agreeing, step after step."""
    if len(states) < 2 or not all(whole):
        return False
    first = states[0]
    return all(
        torch.equal(s.step, first.step)
        and torch.equal(s.started, first.started)
        and all(torch.equal(s.present[name], first.present[name]) for name in first.present)
        for s in states[1:]
    )


class SideBySide:
    """A block's parameter and state rows, each slot seen as [rows, its weights] once (the
    views last as long as the block: its tensors are updated in place)."""

    def __init__(self, params: Sequence[torch.Tensor], states: Sequence[SlotState]) -> None:
        self.n = params[0].shape[0]
        self.widths = [p[0].numel() for p in params]
        self.first = states[0]
        # view(), not reshape(): a slot that is not a view of its rows fails here rather than
        # taking the update into a copy.
        self.params = [p.view(self.n, -1) for p in params]
        self.states = {
            name: [s.tensors[name].view(self.n, -1) for s in states] for name in self.first.tensors
        }
        # The per-row counts and flags the rule moves on the first slot only.
        rest = states[1:]
        self.counts = [s.step for s in rest] + [s.started for s in rest]
        self.first_counts = [self.first.step] * len(rest) + [self.first.started] * len(rest)
        for name in self.first.present:
            self.counts += [s.present[name] for s in rest]
            self.first_counts += [self.first.present[name]] * len(rest)

    def update(self, rule: Rule, grads: Sequence[torch.Tensor], inputs: StepInputs) -> None:
        """`rule` once over the slots side by side, written back into each slot's rows;
        `inputs`: any slot's (they agree on every row)."""
        n, first = self.n, self.first
        flat = SlotState(
            tensors={name: torch.cat(views, dim=1) for name, views in self.states.items()},
            step=first.step,
            present=first.present,
            started=first.started,
            all_started=first.all_started,
        )
        p = torch.cat(self.params, dim=1)
        g = torch.cat([t.reshape(n, -1) for t in grads], dim=1)
        rule(p, g, flat, replace(inputs, lr_rows=inputs.lr_rows.reshape(n, 1)))
        torch._foreach_copy_(self.params, list(torch.split(p, self.widths, dim=1)))
        for name, t in flat.tensors.items():
            torch._foreach_copy_(self.states[name], list(torch.split(t, self.widths, dim=1)))
        torch._foreach_copy_(self.counts, self.first_counts)
