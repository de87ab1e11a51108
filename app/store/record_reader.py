"""Reading a run record's tree back into a RunSnapshot, every field checked on the way.

Anything that does not have the shape this server writes is a CorruptRecord naming the field:
the record's checksum only proves it is what was stored, not that what was stored is sound.
"""

from __future__ import annotations

from typing import TypeVar, cast

import torch
from pydantic import ValidationError

from app import limits
from app.store.errors import CorruptRecord
from app.store.snapshot import RunSnapshot, TimelineSnapshot
from app.store.state_shapes import check_optimizer_state, check_scheduler_state
from app.training.batches import SamplerPosition
from app.training.config import LabConfig
from app.training.datasets import Dataset
from app.training.grad_monitor import GradientStats
from app.training.history import Run
from app.training.loss_log import LossRecord
from app.training.state import STATE_OVERHEAD_BYTES, TrainingState, tensor_bytes
from app.training.task import TASKS, TaskName

KIND = "backprop-lab-run"
FIGURES = ("grad_norm", "mean_abs_grad", "max_abs_grad", "update_ratio")
T = TypeVar("T")


def read_run(value: object) -> RunSnapshot:
    """The snapshot a record's tree describes, every field checked."""
    tree = _get(value, dict, "record")
    if tree.get("kind") != KIND:
        raise CorruptRecord("the record is not a run")
    configs = [_config(c) for c in _get(tree.get("configs"), list, "configs")]
    timeline = _get(tree.get("timeline"), dict, "timeline")
    engine = _get(tree.get("engine"), dict, "engine")
    current = _run(timeline.get("current"), configs)
    return RunSnapshot(
        state=_state(tree.get("state"), configs),
        data=_data(tree.get("data")),
        history=_history(tree.get("history")),
        timeline=TimelineSnapshot(
            states=[_state(s, configs) for s in _get(timeline.get("states"), list, "states")],
            archived=[_run(r, configs) for r in _get(timeline.get("archived"), list, "runs")],
            current=current,
            next_id=_get(timeline.get("next_id"), int, "next_id"),
            rewound=_get(timeline.get("rewound"), bool, "rewound"),
            version=_get(timeline.get("version"), int, "version"),
            thinned_before=_optional(timeline.get("thinned_before"), int, "thinned_before"),
        ),
        divergence_reference=float(_get(engine.get("divergence_reference"), float, "reference")),
        last_loss=_optional(engine.get("last_loss"), float, "last_loss"),
        last_grad_norm=_optional(engine.get("last_grad_norm"), float, "last_grad_norm"),
        live=_get(tree.get("live"), dict, "live"),
    )


def _get(value: object, kind: type[T], what: str) -> T:
    # A JSON integer is also a fine float (a loss of exactly 1 is written as 1.0, read as 1.0).
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return value  # type: ignore[return-value]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CorruptRecord(f"the record's {what} is not a {kind.__name__}")
    return value


def _optional(value: object, kind: type[T], what: str) -> T | None:
    return None if value is None else _get(value, kind, what)


def _config(value: object) -> LabConfig:
    try:
        return LabConfig.model_validate(value)
    except ValidationError as error:
        raise CorruptRecord(f"the record's settings are invalid: {error}") from None


def _pick(configs: list[LabConfig], index: object) -> LabConfig:
    i = _get(index, int, "settings index")
    if not 0 <= i < len(configs):
        raise CorruptRecord("the record refers to settings it does not hold")
    return configs[i]


def _tensor(value: object, what: str) -> torch.Tensor:
    return _get(value, torch.Tensor, what)


def _state(value: object, configs: list[LabConfig]) -> TrainingState:
    outer = _get(value, dict, "state")
    tree = _get(outer.get("body"), dict, "state")
    model = _get(tree.get("model"), dict, "weights")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        raise CorruptRecord("the record's weights are not named tensors")
    config = _pick(configs, outer.get("config"))
    optimizer = _get(tree.get("optimizer"), dict, "optimizer state")
    check_optimizer_state(optimizer, config.training)
    scheduler = _get(tree.get("scheduler"), dict, "scheduler state")
    check_scheduler_state(scheduler, config.training)
    sampler = _get(tree.get("sampler"), list, "sampler position")
    if len(sampler) != 4 or not all(isinstance(n, int) and n >= 0 for n in sampler):
        raise CorruptRecord("the record's sampler position is malformed")
    return TrainingState(
        config=config,
        step=_get(outer.get("step"), int, "step"),
        model_state=model,
        optimizer_state=optimizer,
        scheduler_state=scheduler,
        sampler=SamplerPosition(*sampler),
        nbytes=STATE_OVERHEAD_BYTES + tensor_bytes(model) + tensor_bytes(optimizer),
    )


def _run(value: object, configs: list[LabConfig]) -> Run:
    tree = _get(value, dict, "run")
    return Run(
        id=_get(tree.get("id"), int, "run id"),
        name=_get(tree.get("name"), str, "run name"),
        parent=_optional(tree.get("parent"), int, "run parent"),
        branch_step=_get(tree.get("branch_step"), int, "branch step"),
        config=_pick(configs, tree.get("config")),
        history=_history(tree.get("history")),
    )


def _data(value: object) -> Dataset:
    tree = _get(value, dict, "points")
    task = tree.get("task")
    if task not in TASKS:
        raise CorruptRecord(f"the record's task {task!r} is unknown")
    parts = [_tensor(tree.get(k), k) for k in ("train_x", "train_y", "test_x", "test_y")]
    reference = TASKS[task].targets(torch.zeros(1))
    for x, y in (parts[:2], parts[2:]):
        if x.dtype != torch.float32 or x.ndim != 2 or x.shape[1] != 2:
            raise CorruptRecord("the record's points are not (n, 2) float32")
        if y.dtype != reference.dtype or y.shape[1:] != reference.shape[1:] or len(y) != len(x):
            raise CorruptRecord("the record's labels do not fit its points and task")
    if len(parts[0]) == 0 or len(parts[0]) + len(parts[2]) > limits.MAX_POINTS:
        raise CorruptRecord("the record holds no training points, or too many points")
    train_x, train_y, test_x, test_y = parts
    return Dataset(train_x, train_y, test_x, test_y, cast(TaskName, task))


def _history(value: object) -> list[LossRecord]:
    tree = _get(value, dict, "loss log")
    steps = _tensor(tree.get("step"), "loss log steps")
    values = _tensor(tree.get("values"), "loss log values")
    n = len(steps)
    if steps.dtype != torch.int64 or values.dtype != torch.float64 or values.shape != (n, 5):
        raise CorruptRecord("the record's loss log is malformed")
    gradients = _gradients(tree.get("gradients"), n)
    return [
        LossRecord(step, row[0], row[1], row[2], row[3], row[4], gradients=stats)
        for step, row, stats in zip(
            steps.numpy().tolist(), values.numpy().tolist(), gradients, strict=True
        )
    ]


def _gradients(value: object, n: int) -> list[GradientStats | None]:
    if value is None:
        return [None] * n
    tree = _get(value, dict, "gradient figures")
    rows = _tensor(tree.get("rows"), "gradient rows")
    steps = _tensor(tree.get("steps"), "gradient steps")
    figures = _tensor(tree.get("figures"), "gradient figures")
    count = int(rows.sum()) if rows.dtype == torch.bool else -1
    if rows.shape != (n,) or steps.shape != (count,) or figures.shape[:2] != (count, 4):
        raise CorruptRecord("the record's gradient figures are malformed")
    norms, means, largest, ratios = (figures[:, j].numpy() for j in range(len(FIGURES)))
    stats = iter(
        GradientStats(k, norms[i], means[i], largest[i], ratios[i])
        for i, k in enumerate(steps.numpy().tolist())
    )
    return [next(stats) if has else None for has in rows.numpy().tolist()]
