"""Run records: a RunSnapshot as bytes (codec.py's envelope) and back, checked, bounded.

A record holds the current TrainingState, the points, the loss log (column-wise: one tensor
per figure, not one object per record), the timeline's states and the archived runs; settings
are stored once each and referred to by index, as most states share them. When a record would
exceed its bound, the timeline's states are thinned (the first and the newest kept) until it
fits: rewinding reaches fewer steps after a resume, the run itself is whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import torch
from pydantic import ValidationError

from app import limits
from app.store.codec import Fragment, fragment, open_sealed, seal
from app.store.errors import CorruptRecord, OversizedRecord
from app.store.snapshot import RunSnapshot, TimelineSnapshot
from app.training.batches import SamplerPosition
from app.training.config import LabConfig
from app.training.datasets import Dataset
from app.training.grad_monitor import GradientStats
from app.training.history import Run
from app.training.loss_log import LossRecord
from app.training.state import STATE_OVERHEAD_BYTES, TrainingState, tensor_bytes
from app.training.task import TASKS, TaskName

# Beyond any default run (~40 kB) and the largest model with a full history (measured ~6 MB
# with its timeline thinned to fit): the server's setting may lower or raise it.
DEFAULT_MAX_RECORD_BYTES = 8 * 1024 * 1024
KIND = "backprop-lab-run"
FIGURES = ("grad_norm", "mean_abs_grad", "max_abs_grad", "update_ratio")
# What the estimate of a record's size leaves for its settings and small fields.
ESTIMATE_SLACK_BYTES = 64 * 1024
T = TypeVar("T")


class RecordEncoder:
    """Encodes one session's records, again and again: each timeline state and each archived
    run's loss log is encoded once and reused while the timeline keeps it (neither changes
    once kept), so a record costs its new states, the live loss log and the settings."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.max_bytes = max_bytes
        # By id, each holding the object itself so that its id cannot be reused while cached.
        self._states: dict[int, tuple[TrainingState, Fragment]] = {}
        self._logs: dict[int, tuple[list[LossRecord], Fragment]] = {}

    def encode(self, snapshot: RunSnapshot) -> bytes:
        """The record of `snapshot`; OversizedRecord if even without timeline states it is
        over the bound."""
        timeline = snapshot.timeline
        states = list(timeline.states)
        self._states = {id(s): self._cached_state(s) for s in states}
        self._logs = {id(r.history): self._cached_log(r.history) for r in timeline.archived}
        parts = _Parts(
            state=fragment(_state_body(snapshot.state)),
            history=fragment(_history_tree(snapshot.history)),
            current_log=fragment(_history_tree(timeline.current.history)),
            states=lambda state: self._states[id(state)][1],
            logs=lambda records: self._logs[id(records)][1],
        )
        fitting = self._fitting(states, parts, snapshot)
        while True:
            # States thinned here leave only sparse ones, up to the newest.
            thinned_before = (
                timeline.thinned_before
                if len(fitting) == len(states)
                else (fitting[-1].step if fitting else None)
            )
            try:
                return seal(_run_tree(snapshot, fitting, thinned_before, parts), self.max_bytes)
            except OversizedRecord:
                if not fitting:
                    raise
            fitting = _thinned(fitting)

    def _fitting(
        self, states: list[TrainingState], parts: _Parts, snapshot: RunSnapshot
    ) -> list[TrainingState]:
        """The states, thinned until the estimated record fits (sealing checks it exactly)."""
        data = snapshot.data
        fixed = (
            parts.state.nbytes
            + parts.history.nbytes
            + parts.current_log.nbytes
            + sum(entry[1].nbytes for entry in self._logs.values())
            + sum(t.numel() * t.element_size() for t in (data.train_x, data.train_y))
            + sum(t.numel() * t.element_size() for t in (data.test_x, data.test_y))
            + ESTIMATE_SLACK_BYTES
        )
        while states and fixed + sum(self._states[id(s)][1].nbytes for s in states) > (
            self.max_bytes
        ):
            states = _thinned(states)
        return states

    def _cached_state(self, state: TrainingState) -> tuple[TrainingState, Fragment]:
        entry = self._states.get(id(state))
        return entry if entry is not None else (state, fragment(_state_body(state)))

    def _cached_log(self, records: list[LossRecord]) -> tuple[list[LossRecord], Fragment]:
        entry = self._logs.get(id(records))
        return entry if entry is not None else (records, fragment(_history_tree(records)))


@dataclass(frozen=True)
class _Parts:
    """The encoded pieces of one record."""

    state: Fragment
    history: Fragment
    current_log: Fragment
    states: Callable[[TrainingState], Fragment]
    logs: Callable[[list[LossRecord]], Fragment]


def _thinned(states: list[TrainingState]) -> list[TrainingState]:
    """Every other state between the first and the newest gone, as the timeline thins."""
    return states[:1] + states[1:-1][1::2] + states[-1:] if len(states) > 2 else []


def encode_run(snapshot: RunSnapshot, max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> bytes:
    """The record of `snapshot` (RecordEncoder, once)."""
    return RecordEncoder(max_bytes).encode(snapshot)


def decode_run(raw: bytes, max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> RunSnapshot:
    """The snapshot in `raw`; a RecordError subclass saying why if it cannot be trusted."""
    tree = _get(open_sealed(raw, max_bytes), dict, "record")
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


# ---- writing --------------------------------------------------------------------------------


class _Configs:
    """Each distinct LabConfig once; states and runs refer to it by index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        # Most states hold the very same object: it is dumped once.
        self.by_id: dict[int, int] = {}
        self.dumps: list[dict[str, Any]] = []

    def ref(self, config: LabConfig) -> int:
        known = self.by_id.get(id(config))
        if known is not None:
            return known
        key = config.model_dump_json()
        if key not in self.index:
            self.index[key] = len(self.dumps)
            self.dumps.append(config.model_dump(mode="json"))
        self.by_id[id(config)] = self.index[key]
        return self.index[key]


def _run_tree(
    snapshot: RunSnapshot,
    states: list[TrainingState],
    thinned_before: int | None,
    parts: _Parts,
) -> dict[str, object]:
    configs = _Configs()
    timeline = snapshot.timeline
    data = snapshot.data
    return {
        "kind": KIND,
        "state": _state_tree(snapshot.state, configs, parts.state),
        "data": {
            "task": data.task,
            "train_x": data.train_x,
            "train_y": data.train_y,
            "test_x": data.test_x,
            "test_y": data.test_y,
        },
        "history": parts.history,
        "timeline": {
            "states": [_state_tree(s, configs, parts.states(s)) for s in states],
            "archived": [
                _run_tree_of(r, configs, parts.logs(r.history)) for r in timeline.archived
            ],
            "current": _run_tree_of(timeline.current, configs, parts.current_log),
            "next_id": timeline.next_id,
            "rewound": timeline.rewound,
            "version": timeline.version,
            "thinned_before": thinned_before,
        },
        "engine": {
            "divergence_reference": snapshot.divergence_reference,
            "last_loss": snapshot.last_loss,
            "last_grad_norm": snapshot.last_grad_norm,
        },
        "live": snapshot.live,
        # Last: filled while the rest was built.
        "configs": configs.dumps,
    }


def _state_tree(state: TrainingState, configs: _Configs, body: object) -> dict[str, object]:
    return {"config": configs.ref(state.config), "step": state.step, "body": body}


def _state_body(state: TrainingState) -> dict[str, object]:
    p = state.sampler
    return {
        "model": state.model_state,
        "optimizer": state.optimizer_state,
        "scheduler": state.scheduler_state,
        "sampler": [p.epochs_drawn, p.cursor, p.samples_seen, p.batch_size],
    }


def _run_tree_of(run: Run, configs: _Configs, log: Fragment) -> dict[str, object]:
    return {
        "id": run.id,
        "name": run.name,
        "parent": run.parent,
        "branch_step": run.branch_step,
        "config": configs.ref(run.config),
        "history": log,
    }


def _history_tree(records: list[LossRecord]) -> dict[str, object]:
    values = [[r.epoch, r.train, r.test, r.penalty, r.learning_rate] for r in records]
    with_gradients = [r for r in records if r.gradients is not None]
    gradients: dict[str, object] | None = None
    if with_gradients:
        stats = [r.gradients for r in with_gradients if r.gradients is not None]
        gradients = {
            "rows": torch.tensor([r.gradients is not None for r in records]),
            "steps": torch.tensor([s.steps for s in stats], dtype=torch.int64),
            # (records, figure, layer): every record of one loss log is of one model.
            "figures": torch.from_numpy(
                np.concatenate([getattr(s, f) for s in stats for f in FIGURES]).reshape(
                    len(stats), len(FIGURES), -1
                )
            ),
        }
    return {
        "step": torch.tensor([r.step for r in records], dtype=torch.int64),
        "values": torch.tensor(values, dtype=torch.float64).reshape(len(records), 5),
        "gradients": gradients,
    }


# ---- reading --------------------------------------------------------------------------------


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
    optimizer = _get(tree.get("optimizer"), dict, "optimizer state")
    sampler = _get(tree.get("sampler"), list, "sampler position")
    if len(sampler) != 4 or not all(isinstance(n, int) and n >= 0 for n in sampler):
        raise CorruptRecord("the record's sampler position is malformed")
    return TrainingState(
        config=_pick(configs, outer.get("config")),
        step=_get(outer.get("step"), int, "step"),
        model_state=model,
        optimizer_state=optimizer,
        scheduler_state=_get(tree.get("scheduler"), dict, "scheduler state"),
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
