"""A run's optimizer state moved between torch's per-parameter dicts and the group's rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from app.training.stacked.updates import STATE_NAMES, SlotState


def stack_state(
    kinds: Sequence[str],
    optimizers: Sequence[torch.optim.Optimizer],
    params: Sequence[torch.nn.Parameter],
) -> SlotState:
    """One parameter's state over the runs (`params[k]` is run k's tensor of it, `kinds[k]`
    its optimizer): the entries of every optimizer among them; absent entries (and another
    optimizer's) become zero rows, which is what torch starts them at (SGD's buffer aside:
    its `present` flag makes the first step copy the gradient, as torch does)."""
    names = state_names(kinds)
    entries: list[dict[str, Any] | None] = [
        opt.state.get(p) for opt, p in zip(optimizers, params, strict=True)
    ]
    tensors = {
        name: torch.stack(
            [
                e[name].detach().clone()
                if e is not None and name in e
                else torch.zeros_like(p.detach())
                for e, p in zip(entries, params, strict=True)
            ]
        )
        for name in names
    }
    present = {name: torch.tensor([e is not None and name in e for e in entries]) for name in names}
    steps = [float(e["step"]) if e is not None and "step" in e else 0.0 for e in entries]
    return SlotState(
        tensors=tensors,
        step=torch.tensor(steps, dtype=torch.float32),
        present=present,
        started=torch.tensor([e is not None for e in entries]),
    )


def state_names(kinds: Iterable[str]) -> list[str]:
    """The state entries a group of these optimizers keeps, in a fixed order."""
    wanted = {name for kind in kinds for name in STATE_NAMES[kind]}
    return sorted(wanted)


def write_state(
    optimizer_kind: str,
    state: SlotState,
    row: int,
    optimizer: torch.optim.Optimizer,
    param: torch.nn.Parameter,
) -> None:
    """Run `row`'s state of one parameter into its torch optimizer, as copies (a captured
    TrainingState deep-copies these: a view would drag every run's rows along)."""
    if not bool(state.started[row]):
        optimizer.state.pop(param, None)
        return
    entry: dict[str, torch.Tensor] = {}
    if optimizer_kind != "sgd":  # SGD keeps no step count
        entry["step"] = state.step[row].clone()
    for name in STATE_NAMES[optimizer_kind]:
        if bool(state.present[name][row]):
            entry[name] = state.tensors[name][row].clone()
    optimizer.state[param] = entry


def read_state(
    state: SlotState, row: int, optimizer: torch.optim.Optimizer, param: torch.nn.Parameter
) -> None:
    """write_state's inverse: run `row`'s state of one parameter taken from its torch
    optimizer, in place (the blocks hold views of these rows), after the run stepped on its
    own. Entries torch does not hold stay as they were, marked absent."""
    entry = optimizer.state.get(param)
    state.started[row] = entry is not None
    if "step" in (entry or {}):
        state.step[row] = float(entry["step"])  # type: ignore[index]
    for name, rows in state.tensors.items():
        value = None if entry is None else entry.get(name)
        state.present[name][row] = value is not None
        if value is not None:
            rows[row].copy_(value)
