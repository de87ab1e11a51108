"""The image run's history: snapshots to rewind to and the runs (branches) kept, in bounded memory.

Snapshots (snapshot.py) are kept at the start of every burst and every Step, when the settings
cannot change until it ends, and every SNAPSHOT_EVERY_STEPS steps inside a burst. A snapshot of the
default CNN with Adam is 40,144 bytes (7.6 kB of weights, 15 kB of Adam moments, 5 kB of dropout
generator state, ~10 kB of Python objects) and takes ~0.9 ms to capture (a step: ~3 ms, measured on
a loaded 2-core machine), so the default 16 MB budget holds ~400 of them; the widest MLP (4 × 256,
2.6 MB a snapshot) only 6. Past the budget, or past as many older ones as `recent` newer ones, the
older ones are thinned as the plane lab's are (thin_states). Training on from a rewound step starts
a new run (a branch): the snapshots after that step go (they belong to the run left behind, which
keeps its loss curve in the runs list), so a rewind never reaches another branch's state.

The timeline only stores and answers: the live run hands it snapshots and losses, asks it for a
snapshot, and restores that itself (ImageRun.restore).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from app.training.history import (
    ARCHIVED_RUN_POINTS,
    MAX_RUNS,
    HistoryError,
    describe_change,
    rows_csv,
    thin_states,
)
from app.training.images.config import ImageLabConfig
from app.training.images.snapshot import ImageSnapshot

# Inside a burst of Play, a snapshot once this many steps passed since the last one: a 45 ms
# burst of the default CNN is ~15 steps here, so a rewind can land every 10 steps or closer,
# for ~2 ms of snapshots per burst.
SNAPSHOT_EVERY_STEPS = 10
# The current run's loss curve keeps every step up to this many points, then every other one.
MAX_CURVE_POINTS = 10_000

# (step, training loss of the step that led to it); NaN where the loss was not a number.
LossPoint = tuple[int, float]


@dataclass
class ImageBranch:
    """A line of training: its name says where it branched from and what changed."""

    id: int
    name: str
    parent: int | None
    branch_step: int
    config: ImageLabConfig
    losses: list[LossPoint] = field(default_factory=list)


class ImageTimeline:
    """Snapshots of the current run's lineage, its loss curve, and the runs it branched from."""

    def __init__(
        self, config: ImageLabConfig, max_bytes: int = 16 * 1024 * 1024, recent: int = 200
    ) -> None:
        self.max_bytes = max_bytes
        self.recent = recent
        self.snapshots: list[ImageSnapshot] = []
        self.nbytes = 0
        # The step before which only sparse snapshots are kept, once any were dropped.
        self.thinned_before: int | None = None
        self.archived: list[ImageBranch] = []
        self.current = ImageBranch(1, "run 1", None, 0, config)
        self._next_id = 2
        self._rewound = False
        # Bumped whenever the list of runs or their names change (the page is sent `runs`).
        self.version = 0

    # ---- recording ----------------------------------------------------------------------------

    def due(self, step: int) -> bool:
        """Whether a burst that reached `step` should keep a snapshot there."""
        return not self.snapshots or step - self.snapshots[-1].step >= SNAPSHOT_EVERY_STEPS

    def keep(self, snapshot: ImageSnapshot) -> None:
        """Keep `snapshot`; the first one after a rewind, if the run went further than its
        step, starts a branch there."""
        step = snapshot.step
        if self._rewound:
            self._rewound = False
            later = any(s > step for s, _ in self.current.losses)
            if later or (self.snapshots and self.snapshots[-1].step > step):
                self._branch(snapshot)
        if self.snapshots and self.snapshots[-1].step == step:
            self.nbytes -= self.snapshots.pop().nbytes
        self.snapshots.append(snapshot)
        self.nbytes += snapshot.nbytes
        kept, thinned_before = thin_states(self.snapshots, self.recent, self.max_bytes)
        if thinned_before is not None:
            self.snapshots = kept
            self.nbytes = sum(s.nbytes for s in kept)
            self.thinned_before = thinned_before

    def record(self, losses: list[LossPoint]) -> None:
        """The losses of the steps just taken, onto the current run's curve."""
        curve = self.current.losses
        curve.extend(losses)
        if len(curve) > MAX_CURVE_POINTS:
            self.current.losses = curve[::2] + ([curve[-1]] if len(curve) % 2 == 0 else [])

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    # ---- rewinding and branching --------------------------------------------------------------

    def leaving_present(self, step: int) -> bool:
        """Whether a rewind from `step` leaves a present not kept yet (to keep first, so the
        slider can come back to it)."""
        return not self._rewound and (not self.snapshots or self.snapshots[-1].step < step)

    def rewind_to(self, step: int) -> ImageSnapshot:
        """The snapshot kept at `step`, to restore. The run's later losses and snapshots stay
        until training goes on from there, which starts a branch."""
        snapshot = next((s for s in self.snapshots if s.step == step), None)
        if snapshot is None:
            steps = self.steps
            kept = f"{steps[0]}…{steps[-1]} ({len(steps)} of them)" if steps else "none"
            raise HistoryError(f"step {step} is not kept; kept steps are {kept}")
        self._rewound = True
        return snapshot

    def _branch(self, snapshot: ImageSnapshot) -> None:
        step = snapshot.step
        at = next(s for s in self.snapshots if s.step == step)
        lineage = [p for p in self.current.losses if p[0] <= step]
        self._archive()
        self.snapshots = [s for s in self.snapshots if s.step <= step]
        self.nbytes = sum(s.nbytes for s in self.snapshots)
        name = f"from step {step}: {describe_change(at.config, snapshot.config)}"
        self._new_run(name, self.current.id, step, snapshot.config)
        self.current.losses = lineage

    def start_over(self, config: ImageLabConfig, name: str | None = None) -> None:
        """A rebuild (new model or data, a reset, a model file) with `config`: the old run is
        archived if it trained, and no snapshot of it is kept."""
        self.snapshots = []
        self.nbytes = 0
        self.thinned_before = None
        self._rewound = False
        if self.current.losses:
            change = describe_change(self.current.config, config)
            if name is None:
                name = "reset" if change == "same settings" else f"new run: {change}"
            self._archive()
            self._new_run(name, None, 0, config)
        else:
            self.current.config = config
            if name is not None:
                self.current.name = name
                self.version += 1

    def _archive(self) -> None:
        curve = self.current.losses
        stride = max(1, math.ceil(len(curve) / ARCHIVED_RUN_POINTS))
        self.current.losses = curve[::stride]
        self.archived = [*self.archived, self.current][-(MAX_RUNS - 1) :]

    def _new_run(self, name: str, parent: int | None, step: int, config: ImageLabConfig) -> None:
        self.current = ImageBranch(self._next_id, name, parent, step, config)
        self._next_id += 1
        self.version += 1

    def runs(self) -> list[ImageBranch]:
        """Every run kept, oldest first; the last is the current one."""
        return [*self.archived, self.current]

    def run(self, run_id: int) -> ImageBranch:
        for branch in self.runs():
            if branch.id == run_id:
                return branch
        kept = ", ".join(str(b.id) for b in self.runs())
        raise HistoryError(f"run {run_id} is not kept; the runs kept are {kept}")

    def note(self) -> str | None:
        """What the page says about thinning, or None while every snapshot is kept."""
        if self.thinned_before is None:
            return None
        older = sum(1 for s in self.snapshots if s.step < self.thinned_before)
        return (
            f"history thinned to fit {self.max_bytes // 1024} kB: before step "
            f"{self.thinned_before} only {older} steps are kept"
        )


def branch_rows(branch: ImageBranch) -> list[dict[str, object]]:
    """One row per step on the run's curve (every step, or every k-th of an archived run)."""
    return [
        {"step": step, "train_loss": loss if math.isfinite(loss) else None}
        for step, loss in list(branch.losses)  # a copy: the engine may be appending
    ]


def branch_json(branch: ImageBranch) -> str:
    return json.dumps(
        {
            "run": {
                "id": branch.id,
                "name": branch.name,
                "parent": branch.parent,
                "branch_step": branch.branch_step,
                "config": branch.config.model_dump(),
            },
            "records": branch_rows(branch),
        }
    )


def branch_csv(branch: ImageBranch) -> str:
    return rows_csv(branch_rows(branch))
