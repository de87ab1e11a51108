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
    """The parts' rows of one parameter's state; an entry only some parts keep (their
    optimizers') is zeros and absent in the others' rows, as stack_state makes it."""
    names = sorted({name for s, _ in parts for name in s.tensors})

    def tensor(s: SlotState, name: str, rows: torch.Tensor) -> torch.Tensor:
        if name in s.tensors:
            return s.tensors[name].index_select(0, rows)
        like = next(iter(s.tensors.values()))  # every optimizer keeps an entry or more
        return torch.zeros((len(rows), *like.shape[1:]), dtype=like.dtype)

    def flag(s: SlotState, name: str, rows: torch.Tensor) -> torch.Tensor:
        if name in s.present:
            return s.present[name].index_select(0, rows)
        return torch.zeros(len(rows), dtype=torch.bool)

    return SlotState(
        tensors={name: torch.cat([tensor(s, name, r) for s, r in parts]) for name in names},
        step=gathered([(s.step, rows) for s, rows in parts]),
        present={name: torch.cat([flag(s, name, r) for s, r in parts]) for name in names},
        started=gathered([(s.started, rows) for s, rows in parts]),
    )
