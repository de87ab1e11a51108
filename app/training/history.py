"""The run's history: snapshots to rewind to, runs (branches) to compare, in bounded memory.

A snapshot is taken at the start of every burst, when the settings cannot change until the burst
ends: the parameters, the optimizer's and the scheduler's state (the copies the session makes
anyway as its divergence checkpoint, so keeping one costs no extra copy), the sampler's position,
the step and the settings. Restoring one and training on with the same settings therefore
replays the same steps bit for bit. The newest `recent` snapshots are all kept (a ring); older
ones are thinned, every other one dropped, whenever the bytes exceed the budget or there are
more older ones than recent ones. Training on from a rewound step starts a new run (a branch);
the run it left keeps its loss curve, for comparison and export.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from app.training.batches import SamplerPosition
from app.training.config import LabConfig
from app.training.optimizers import build_optimizer, build_scheduler

if TYPE_CHECKING:
    from app.training.session import LossRecord, TrainingSession

# Python objects around the tensors of one snapshot (dicts, the settings, the sampler position),
# measured with tracemalloc on a 6×16 Adam model: ~3 kB; counted generously.
SNAPSHOT_OVERHEAD_BYTES = 4096
# Runs that are no longer trained keep at most this many loss points, and the newest MAX_RUNS.
ARCHIVED_RUN_POINTS = 2000
MAX_RUNS = 8
# A run's name lists at most this many changed settings.
NAMED_CHANGES = 3


class HistoryError(ValueError):
    """A rewind to a step the history does not hold."""

    field = "step"


@dataclass(frozen=True)
class Snapshot:
    step: int
    config: LabConfig
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any]
    sampler: SamplerPosition
    nbytes: int


@dataclass
class Run:
    """A line of training. The current run's loss records are the session's `history`."""

    id: int
    name: str
    parent: int | None
    branch_step: int
    config: LabConfig
    history: list[LossRecord] = field(default_factory=list)


def tensor_bytes(value: object) -> int:
    """Bytes of every tensor inside nested dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return value.untyped_storage().nbytes()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(tensor_bytes(v) for v in value)
    return 0


def describe_change(before: LabConfig, after: LabConfig) -> str:
    """`learning_rate 0.03 → 0.1, activation tanh → relu`: the settings that differ."""
    old, new = before.model_dump(), after.model_dump()
    changes = [
        f"{name} {_short(old[section][name])} → {_short(value)}"
        for section in ("training", "model", "data")
        for name, value in new[section].items()
        if old[section][name] != value
    ]
    if not changes:
        return "same settings"
    more = f" (+{len(changes) - NAMED_CHANGES} more)" if len(changes) > NAMED_CHANGES else ""
    return ", ".join(changes[:NAMED_CHANGES]) + more


def _short(value: object) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_short(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Timeline:
    """Snapshots of the current run's lineage plus the runs it branched from."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024, recent: int = 200) -> None:
        self.max_bytes = max_bytes
        self.recent = recent
        self.snapshots: list[Snapshot] = []
        self.nbytes = 0
        # The step before which only sparse snapshots are kept, once any were dropped.
        self.thinned_before: int | None = None
        self.archived: list[Run] = []
        self.current = Run(1, "run 1", None, 0, LabConfig())
        self._next_id = 2
        self._rewound = False
        # Bumped whenever the list of runs or their names change (pages re-send `runs`).
        self.version = 0

    # ---- recording ----------------------------------------------------------------------------

    def keep(
        self,
        session: TrainingSession,
        model_state: dict[str, torch.Tensor],
        optimizer_state: dict[str, Any],
        scheduler_state: dict[str, Any],
    ) -> None:
        """At the start of a burst: branch if this follows a rewind, then keep the state."""
        step = session.step_count
        if self._rewound:
            self._rewound = False
            later = any(r.step > step for r in session.history)
            if later or (self.snapshots and self.snapshots[-1].step > step):
                self._branch(session, step)
        if not self.snapshots and step == 0:
            self.current.config = session.config
        size = SNAPSHOT_OVERHEAD_BYTES + tensor_bytes(model_state) + tensor_bytes(optimizer_state)
        snapshot = Snapshot(
            step,
            session.config,
            model_state,
            optimizer_state,
            scheduler_state,
            session.sampler.position(),
            size,
        )
        if self.snapshots and self.snapshots[-1].step == step:
            self.nbytes -= self.snapshots.pop().nbytes
        self.snapshots.append(snapshot)
        self.nbytes += size
        self._thin()

    def _thin(self) -> None:
        def older_too_many() -> bool:
            return len(self.snapshots) - self.recent > self.recent

        while (self.nbytes > self.max_bytes or older_too_many()) and len(self.snapshots) > 1:
            ring = min(self.recent, len(self.snapshots) - 1)
            older, newest = self.snapshots[:-ring], self.snapshots[-ring:]
            if len(older) >= 3:
                # Every other older one goes; the very first (step 0 of the lineage) stays.
                kept, dropped = older[::2], older[1::2]
            else:
                # The budget cannot hold the ring: the oldest of the ring goes.
                kept, dropped = older, [newest.pop(0)]
            self.snapshots = kept + newest
            self.nbytes -= sum(s.nbytes for s in dropped)
            self.thinned_before = newest[0].step if newest else self.snapshots[-1].step

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    # ---- rewinding and branching --------------------------------------------------------------

    def restore(self, session: TrainingSession, step: int) -> Snapshot:
        """Put the session back to the snapshot at `step`: parameters, optimizer and scheduler
        state, sampler position, step and settings. The run's later records stay until training
        goes on from here, which starts a branch."""
        if not self._rewound and (
            not self.snapshots or self.snapshots[-1].step < session.step_count
        ):
            # Leaving the present for the past: keep it, so the scrubber can come back to it.
            session.checkpoint()
        snapshot = next((s for s in self.snapshots if s.step == step), None)
        if snapshot is None:
            raise HistoryError(f"step {step} is not kept; kept steps are {self._kept_summary()}")
        config = snapshot.config
        model = session.model
        same_optimizer = session.config.training.optimizer == config.training.optimizer
        session.config = config
        model.set_activations(config.model.activations_per_layer())
        model.freeze(set(config.model.frozen_layers))
        model.load_state_dict(snapshot.model_state, strict=False)
        training = config.training
        optimizer = session.optimizer
        if not same_optimizer:
            optimizer = build_optimizer(training.optimizer, model.parameters(), training)
        # The scheduler first: building one writes the base rate into the groups, which the
        # optimizer's own state then puts back as it was.
        scheduler = build_scheduler(optimizer, training)
        try:
            optimizer.load_state_dict(copy.deepcopy(snapshot.optimizer_state))
        except ValueError:
            # The parameter groups differ (a PReLU slope joined since): its state starts afresh.
            optimizer = build_optimizer(training.optimizer, model.parameters(), training)
            scheduler = build_scheduler(optimizer, training)
        scheduler.load_state_dict(copy.deepcopy(snapshot.scheduler_state))
        session.optimizer, session.scheduler = optimizer, scheduler
        session.sampler.seek(snapshot.sampler)
        session.step_count = snapshot.step
        model.zero_grad(set_to_none=True)
        session.gradient_monitor.collect()
        self._rewound = True
        return snapshot

    def _kept_summary(self) -> str:
        steps = self.steps
        return f"{steps[0]}…{steps[-1]} ({len(steps)} of them)" if steps else "none"

    def _branch(self, session: TrainingSession, step: int) -> None:
        at = next(s for s in self.snapshots if s.step == step)
        self._archive(list(session.history))
        session.history = [r for r in session.history if r.step <= step]
        session.history_generation += 1
        dropped = [s for s in self.snapshots if s.step > step]
        self.snapshots = [s for s in self.snapshots if s.step <= step]
        self.nbytes -= sum(s.nbytes for s in dropped)
        name = f"from step {step}: {describe_change(at.config, session.config)}"
        self._new_run(name, self.current.id, step, session.config)

    def start_over(self, session: TrainingSession, history: list[LossRecord]) -> None:
        """A rebuild (new model, data or a reset): the old run is archived if it trained."""
        self.snapshots = []
        self.nbytes = 0
        self.thinned_before = None
        self._rewound = False
        if any(r.step > 0 for r in history):
            self._archive(history)
            change = describe_change(self.current.config, session.config)
            name = "reset" if change == "same settings" else f"new run: {change}"
            self._new_run(name, None, 0, session.config)
        else:
            self.current.config = session.config

    def _archive(self, history: list[LossRecord]) -> None:
        stride = max(1, math.ceil(len(history) / ARCHIVED_RUN_POINTS))
        self.current.history = history[::stride]
        self.archived = [*self.archived, self.current][-(MAX_RUNS - 1) :]

    def _new_run(self, name: str, parent: int | None, step: int, config: LabConfig) -> None:
        self.current = Run(self._next_id, name, parent, step, config)
        self._next_id += 1
        self.version += 1

    def runs(self, session: TrainingSession) -> list[Run]:
        """Every run kept, oldest first; the last is the current one (its records are live)."""
        current = copy.copy(self.current)
        current.history = session.history
        return [*self.archived, current]

    def run(self, session: TrainingSession, run_id: int) -> Run:
        for run in self.runs(session):
            if run.id == run_id:
                return run
        raise HistoryError(f"no run {run_id}")

    def note(self) -> str | None:
        """What the page says about thinning, or None while every burst is kept."""
        if self.thinned_before is None:
            return None
        older = sum(1 for s in self.snapshots if s.step < self.thinned_before)
        return (
            f"history thinned to fit {self.max_bytes // 1024} kB: before step "
            f"{self.thinned_before} only {older} snapshots are kept"
        )


# ---- export ---------------------------------------------------------------------------------

LAYER_FIGURES = ("grad_norm", "mean_abs_grad", "max_abs_grad", "update_ratio")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def history_rows(records: list[LossRecord]) -> list[dict[str, object]]:
    """One dict per loss record: losses, learning rate and each layer's gradient figures."""
    rows = []
    for r in records:
        row: dict[str, object] = {
            "step": r.step,
            "epoch": r.epoch,
            "train_loss": _finite(r.train),
            "test_loss": _finite(r.test),
            "penalty": _finite(r.penalty),
            "learning_rate": _finite(r.learning_rate),
        }
        g = r.gradients
        if g is not None:
            for name in LAYER_FIGURES:
                for i, value in enumerate(getattr(g, name)):
                    row[f"layer{i}_{name}"] = _finite(float(value))
        rows.append(row)
    return rows


def history_json(run: Run) -> str:
    return json.dumps(
        {
            "run": {
                "id": run.id,
                "name": run.name,
                "parent": run.parent,
                "branch_step": run.branch_step,
                "config": run.config.model_dump(),
            },
            "records": history_rows(run.history),
        }
    )


def history_csv(run: Run) -> str:
    rows = history_rows(run.history)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
