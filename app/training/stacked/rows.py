"""Groups' per-run rows taken and put together, so runs join and leave a group without every
member being written out and read back."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import fields, replace

import torch

from app.training.stacked.schedule import Schedules
from app.training.stacked.settings import RunSettings, derived
from app.training.stacked.updates import SlotState

# A tensor with one row per run of some group, and which of its rows to take, in order.
Part = tuple[torch.Tensor, torch.Tensor]


def gathered(parts: Sequence[Part]) -> torch.Tensor:
    return torch.cat([t.index_select(0, rows) for t, rows in parts])


def combined_schedules(parts: Sequence[tuple[Schedules, torch.Tensor]]) -> Schedules:
    out = copy.copy(parts[0][0])
    for name in ("kind", "base", "position", "gamma", "step_size", "length"):
        setattr(out, name, gathered([(getattr(s, name), rows) for s, rows in parts]))
    out.moves = out.kind != 0
    out.varies = bool(out.moves.any())
    return out


def combined_settings(parts: Sequence[tuple[RunSettings, torch.Tensor]]) -> RunSettings:
    first = parts[0][0]
    columns = {
        f.name: gathered([(getattr(s, f.name), rows) for s, rows in parts])
        for f in fields(RunSettings)
        if isinstance(getattr(first, f.name), torch.Tensor)
    }
    return derived(replace(first, **columns))  # type: ignore[arg-type]


def combined_state(parts: Sequence[tuple[SlotState, torch.Tensor]]) -> SlotState:
    first = parts[0][0]
    return SlotState(
        tensors={
            name: gathered([(s.tensors[name], rows) for s, rows in parts]) for name in first.tensors
        },
        step=gathered([(s.step, rows) for s, rows in parts]),
        present={
            name: gathered([(s.present[name], rows) for s, rows in parts]) for name in first.present
        },
        started=gathered([(s.started, rows) for s, rows in parts]),
    )
