"""The run's history: states to rewind to, runs (branches) to compare, in bounded memory.

A state (state.py) is kept at the start of every burst, when the settings cannot change until
the burst ends: the very TrainingState the trainer captures anyway as its rollback point, so
keeping one costs no extra copy. Restoring one and training on with the same settings therefore
replays the same steps bit for bit. The newest `recent` states are all kept (a ring); older
ones are thinned, every other one dropped, whenever the bytes exceed the budget or there are
more older ones than recent ones. Training on from a rewound step starts a new run (a branch);
the run it left keeps its loss curve, for comparison and export.

The timeline only stores and answers: the trainer hands it states and loss logs, asks it for a
state, and restores that state itself.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel

from app.training.config import LabConfig
from app.training.loss_log import LossRecord
from app.training.state import TrainingState

# Runs that are no longer trained keep at most this many loss points, and the newest MAX_RUNS.
ARCHIVED_RUN_POINTS = 2000
MAX_RUNS = 8
# A run's name lists at most this many changed settings.
NAMED_CHANGES = 3


class HistoryError(ValueError):
    """A rewind to a step the history does not hold."""

    field = "step"


@dataclass
class Run:
    """A line of training. The current run's loss records are the trainer's `history`."""

    id: int
    name: str
    parent: int | None
    branch_step: int
    config: LabConfig
    history: list[LossRecord] = field(default_factory=list)


# Settings of how a run is watched (its pace), which change nothing a run computes: a run is not
# named after them.
WATCHING_FIELDS = frozenset({"steps_per_frame"})


def describe_change(before: BaseModel, after: BaseModel) -> str:
    """`learning_rate 0.03 → 0.1, activation tanh → relu`: the settings that differ (of either
    lab's config: both have the sections training, model and data)."""
    old, new = before.model_dump(), after.model_dump()
    changes = [
        f"{name} {_short(old[section][name])} → {_short(value)}"
        for section in ("training", "model", "data")
        for name, value in new[section].items()
        if old[section][name] != value and name not in WATCHING_FIELDS
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


class KeptState(Protocol):
    """What thinning reads of a kept state (either lab's)."""

    @property
    def step(self) -> int: ...

    @property
    def nbytes(self) -> int: ...


Kept = TypeVar("Kept", bound=KeptState)


def thin_states(states: list[Kept], recent: int, max_bytes: int) -> tuple[list[Kept], int | None]:
    """`states` (oldest first) thinned to fit `max_bytes` and at most as many older ones as
    `recent` ones, and the step before which only sparse states are left (None: none dropped).

    The newest `recent` are all kept (a ring); of the older ones every other goes, the very
    first (step 0 of the lineage) staying, until they fit."""
    nbytes = sum(s.nbytes for s in states)
    thinned_before: int | None = None

    def older_too_many() -> bool:
        return len(states) - recent > recent

    while (nbytes > max_bytes or older_too_many()) and len(states) > 1:
        ring = min(recent, len(states) - 1)
        older, newest = states[:-ring], states[-ring:]
        if len(older) >= 3:
            kept, dropped = older[::2], older[1::2]
        else:
            # The budget cannot hold the ring: the oldest of the ring goes.
            kept, dropped = older, [newest.pop(0)]
        states = kept + newest
        nbytes -= sum(s.nbytes for s in dropped)
        thinned_before = newest[0].step if newest else states[-1].step
    return states, thinned_before


class Timeline:
    """States of the current run's lineage plus the runs it branched from."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024, recent: int = 200) -> None:
        self.max_bytes = max_bytes
        self.recent = recent
        self.states: list[TrainingState] = []
        self.nbytes = 0
        # The step before which only sparse states are kept, once any were dropped.
        self.thinned_before: int | None = None
        self.archived: list[Run] = []
        self.current = Run(1, "run 1", None, 0, LabConfig())
        self._next_id = 2
        self._rewound = False
        # Bumped whenever the list of runs or their names change (pages re-send `runs`).
        self.version = 0

    # ---- recording ----------------------------------------------------------------------------

    def keep(self, state: TrainingState, history: list[LossRecord]) -> list[LossRecord]:
        """At the start of a burst: keep `state`, branching first if this follows a rewind.

        Returns the current run's loss log: `history` itself, or (after a branch) a new list
        of its records up to the branch step, which the trainer then continues."""
        step = state.step
        if self._rewound:
            self._rewound = False
            later = any(r.step > step for r in history)
            if later or (self.states and self.states[-1].step > step):
                history = self._branch(state, history)
        if not self.states and step == 0:
            self.current.config = state.config
        if self.states and self.states[-1].step == step:
            self.nbytes -= self.states.pop().nbytes
        self.states.append(state)
        self.nbytes += state.nbytes
        self._thin()
        return history

    def _thin(self) -> None:
        states, thinned_before = thin_states(self.states, self.recent, self.max_bytes)
        if thinned_before is not None:
            self.states = states
            self.nbytes = sum(s.nbytes for s in states)
            self.thinned_before = thinned_before

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.states]

    # ---- rewinding and branching --------------------------------------------------------------

    def leaving_present(self, step: int) -> bool:
        """Whether a rewind from `step` leaves a present the timeline does not hold yet (the
        trainer keeps it first, so the scrubber can come back to it)."""
        return not self._rewound and (not self.states or self.states[-1].step < step)

    def rewind_to(self, step: int) -> TrainingState:
        """The state kept at `step`, for the trainer to restore. The run's later records stay
        until training goes on from there, which starts a branch."""
        state = next((s for s in self.states if s.step == step), None)
        if state is None:
            raise HistoryError(f"step {step} is not kept; kept steps are {self._kept_summary()}")
        self._rewound = True
        return state

    def _kept_summary(self) -> str:
        steps = self.steps
        return f"{steps[0]}…{steps[-1]} ({len(steps)} of them)" if steps else "none"

    def _branch(self, state: TrainingState, history: list[LossRecord]) -> list[LossRecord]:
        step = state.step
        at = next(s for s in self.states if s.step == step)
        self._archive(list(history))
        dropped = [s for s in self.states if s.step > step]
        self.states = [s for s in self.states if s.step <= step]
        self.nbytes -= sum(s.nbytes for s in dropped)
        name = f"from step {step}: {describe_change(at.config, state.config)}"
        self._new_run(name, self.current.id, step, state.config)
        return [r for r in history if r.step <= step]

    def start_over(
        self, config: LabConfig, history: list[LossRecord], name: str | None = None
    ) -> None:
        """A rebuild (new model, data or a reset) with `config`: the old run, whose loss log is
        `history`, is archived if it trained. `name` names the new run (else its change)."""
        self.states = []
        self.nbytes = 0
        self.thinned_before = None
        self._rewound = False
        if any(r.step > 0 for r in history):
            self._archive(history)
            change = describe_change(self.current.config, config)
            if name is None:
                name = "reset" if change == "same settings" else f"new run: {change}"
            self._new_run(name, None, 0, config)
        else:
            self.current.config = config
            if name is not None:
                self.current.name = name
                self.version += 1

    def _archive(self, history: list[LossRecord]) -> None:
        stride = max(1, math.ceil(len(history) / ARCHIVED_RUN_POINTS))
        self.current.history = history[::stride]
        self.archived = [*self.archived, self.current][-(MAX_RUNS - 1) :]

    def _new_run(self, name: str, parent: int | None, step: int, config: LabConfig) -> None:
        self.current = Run(self._next_id, name, parent, step, config)
        self._next_id += 1
        self.version += 1

    def runs(self, history: list[LossRecord]) -> list[Run]:
        """Every run kept, oldest first; the last is the current one, whose loss log is the
        live `history`."""
        current = copy.copy(self.current)
        current.history = history
        return [*self.archived, current]

    def run(self, history: list[LossRecord], run_id: int) -> Run:
        for run in self.runs(history):
            if run.id == run_id:
                return run
        raise HistoryError(f"no run {run_id}")

    def note(self) -> str | None:
        """What the page says about thinning, or None while every burst is kept."""
        if self.thinned_before is None:
            return None
        older = sum(1 for s in self.states if s.step < self.thinned_before)
        return (
            f"history thinned to fit {self.max_bytes // 1024} kB: before step "
            f"{self.thinned_before} only {older} steps are kept"
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
    return rows_csv(history_rows(run.history))


def rows_csv(rows: list[dict[str, object]]) -> str:
    """Rows as CSV: every key any row has is a column (in first-seen order), empty where absent."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
