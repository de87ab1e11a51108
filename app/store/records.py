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
from typing import Any

import numpy as np
import torch

from app.store.codec import Fragment, fragment, open_sealed, seal
from app.store.errors import OversizedRecord
from app.store.record_reader import FIGURES, KIND, read_run
from app.store.snapshot import RunSnapshot
from app.training.config import LabConfig
from app.training.history import Run
from app.training.loss_log import LossRecord
from app.training.state import TrainingState

# A default run with a full rewind history is ~0.4 MB; the largest model with a full loss log
# and seven archived runs is ~5 MB before any rewind state (12.7 MB with 360 of them, so its
# states are thinned to fit). The server's setting may lower or raise it.
DEFAULT_MAX_RECORD_BYTES = 8 * 1024 * 1024
# What the estimate of a record's size leaves for its settings and small fields.
ESTIMATE_SLACK_BYTES = 64 * 1024


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
    return read_run(open_sealed(raw, max_bytes))


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
