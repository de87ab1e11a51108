"""The shapes an optimizer's and a scheduler's state may have in a record, from torch itself.

A stored state is loaded with load_state_dict, which takes a scheduler's dict as attributes and
an optimizer's groups as settings read at every step: a field of the wrong name or type would
fail (or worse) only in the middle of training. So each is compared with the state of a fresh
optimizer and scheduler of the same kind, built once per kind.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from app.store.errors import CorruptRecord
from app.training.config import OptimizerName, ScheduleName, TrainingConfig
from app.training.optimizers import build_optimizer, build_scheduler

# What the optimizers of this lab keep per parameter.
PARAMETER_STATE = frozenset(
    {"exp_avg", "exp_avg_sq", "momentum_buffer", "square_avg", "step", "sum"}
)


def _kind(value: object) -> str:
    # A float field may hold a whole number, written as an int (0 rather than 0.0).
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, tuple | list):
        return f"{type(value).__name__}[{','.join(sorted({_kind(v) for v in value}))}]"
    return type(value).__name__


@lru_cache(maxsize=32)
def _expected(
    optimizer: OptimizerName, schedule: ScheduleName
) -> tuple[dict[str, str], dict[str, str]]:
    """Field → kind of a param group (less `params`) and of a scheduler's state."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    training = TrainingConfig(optimizer=optimizer, schedule=schedule)
    built = build_optimizer(optimizer, [parameter], training)
    scheduler = build_scheduler(built, training)
    group = {k: _kind(v) for k, v in built.param_groups[0].items() if k != "params"}
    return group, {k: _kind(v) for k, v in scheduler.state_dict().items()}


def check_optimizer_state(state: dict[str, object], training: TrainingConfig) -> None:
    """CorruptRecord unless `state` is an optimizer state of `training.optimizer`'s kind."""
    group_fields, _ = _expected(training.optimizer, training.schedule)
    groups, per_parameter = state.get("param_groups"), state.get("state")
    if set(state) != {"state", "param_groups"} or not isinstance(groups, list):
        raise CorruptRecord("the record's optimizer state is malformed")
    for group in groups:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            raise CorruptRecord("an optimizer group in the record is malformed")
        fields = {k: _kind(v) for k, v in group.items() if k != "params"}
        if fields != group_fields:
            raise CorruptRecord(f"an optimizer group in the record is not {training.optimizer}'s")
    if not isinstance(per_parameter, dict):
        raise CorruptRecord("the record's optimizer state is malformed")
    for key, values in per_parameter.items():
        if (
            not isinstance(key, int)
            or not isinstance(values, dict)
            or not set(values) <= PARAMETER_STATE
            or not all(v is None or isinstance(v, torch.Tensor) for v in values.values())
        ):
            raise CorruptRecord("a parameter's optimizer state in the record is malformed")


def check_scheduler_state(state: dict[str, object], training: TrainingConfig) -> None:
    """CorruptRecord unless `state` is the state of `training.schedule`'s scheduler."""
    _, scheduler_fields = _expected(training.optimizer, training.schedule)
    if {k: _kind(v) for k, v in state.items()} != scheduler_fields:
        raise CorruptRecord(f"the record's schedule state is not a {training.schedule} schedule's")
