"""A sweep: a grid of runs (learning rate × momentum, or × batch size) from the current settings,
trained side by side for a fixed number of steps; its picture is the final loss per cell.

Runs of one shape step together in the batched engine (stacked/): 64 runs of one batch size
for little more than the price of one. Batch sizes change the shape, so a learning rate ×
batch size sweep is one group per batch size. Every cell starts from the run's settings and
data at step 0 with the same seeds, so a cell's settings applied to the run replay that cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from app import limits
from app.training.config import LabConfig
from app.training.datasets import Dataset
from app.training.stacked import RunGroup
from app.training.state import TrainingState, capture
from app.training.trainer import TrainingSession

SweepAxis = Literal["momentum", "batch_size"]
# Steps trained between two looks at `stop`: a stop lands within ~0.1 s.
CHUNK_STEPS = 50
# Learning rates from 1/30 to 30 times the run's own, log-spaced: wide enough to show both
# the rates too small to move and the ones that diverge.
LEARNING_RATE_DECADES = 1.5


@dataclass(frozen=True)
class SweepPlan:
    learning_rates: list[float]  # the columns
    axis: SweepAxis
    values: list[float]  # the rows: momenta, or batch sizes (whole numbers)
    steps: int


@dataclass(frozen=True)
class SweepResult:
    plan: SweepPlan
    # [row][column]: the loss on all training points after the steps; None where diverged.
    final_loss: list[list[float | None]]
    # [row][column]: the step at which the cell diverged, else None.
    diverged_at: list[list[int | None]]
    stopped: bool
    # By cell index (row × columns + column): each cell that did not diverge, as it ended, to
    # be opened as a run. At most 8 × 8 small states (the request bounds the grid).
    states: dict[int, TrainingState] = field(default_factory=dict)


def default_plan(
    config: LabConfig, n_train: int, axis: SweepAxis, size: int = 8, steps: int = 500
) -> SweepPlan:
    """`size` rates around the run's own, by `size` momenta 0…0.95 or batch sizes 1, 2, 4, …"""
    rate = config.training.learning_rate
    exponents = np.linspace(-LEARNING_RATE_DECADES, LEARNING_RATE_DECADES, size)
    rates = [
        float(min(limits.MAX_LEARNING_RATE, max(limits.MIN_LEARNING_RATE, rate * 10**e)))
        for e in exponents
    ]
    if axis == "momentum":
        values = [round(float(m), 4) for m in np.linspace(0.0, 0.95, size)]
    else:
        values = sorted({float(min(2**i, n_train)) for i in range(size)})
    return SweepPlan(rates, axis, values, steps)


def cell_settings(plan: SweepPlan, row: int, column: int) -> dict[str, object]:
    """The training settings of one cell, as a `set` would send them."""
    value: object = int(plan.values[row]) if plan.axis == "batch_size" else plan.values[row]
    return {"learning_rate": plan.learning_rates[column], plan.axis: value}


def cell_index(plan: SweepPlan, row: int, column: int) -> int:
    return row * len(plan.learning_rates) + column


def cell_name(plan: SweepPlan, index: int) -> str:
    """The run a cell opens as, named by its settings: 'sweep cell lr=0.03, momentum=0.9'."""
    row, column = divmod(index, len(plan.learning_rates))
    settings = cell_settings(plan, row, column)
    return "sweep cell " + ", ".join(
        f"{'lr' if key == 'learning_rate' else key}={value:.3g}" for key, value in settings.items()
    )


def _cell(config: LabConfig, data: Dataset, settings: dict[str, object]) -> TrainingSession:
    training = config.training.model_copy(update=settings)
    session = TrainingSession(config.model_copy(update={"training": training}))
    session.use_points(data)
    return session


def run_sweep(
    config: LabConfig,
    data: Dataset,
    plan: SweepPlan,
    stop: Callable[[], bool] = lambda: False,
) -> SweepResult:
    """Train every cell `plan.steps` steps (or until `stop()`), one group per shape."""
    rows, columns = len(plan.values), len(plan.learning_rates)
    cells = {
        (r, c): _cell(config, data, cell_settings(plan, r, c))
        for r in range(rows)
        for c in range(columns)
    }
    by_shape: dict[float, list[TrainingSession]] = {}
    for (r, _), session in cells.items():
        by_shape.setdefault(plan.values[r] if plan.axis == "batch_size" else 0.0, []).append(
            session
        )
    diverged: dict[int, int] = {}
    stopped = False
    for sessions in by_shape.values():
        stopped = _train(sessions, plan.steps, diverged, stop) or stopped
    final: list[list[float | None]] = [[None] * columns for _ in range(rows)]
    at: list[list[int | None]] = [[None] * columns for _ in range(rows)]
    states: dict[int, TrainingState] = {}
    for (r, c), session in cells.items():
        if id(session) in diverged:
            at[r][c] = diverged[id(session)]
            continue
        loss = session.training_loss()
        final[r][c] = loss if math.isfinite(loss) else None
        states[cell_index(plan, r, c)] = capture(session)
    return SweepResult(plan, final, at, stopped, states)


def _train(
    sessions: Sequence[TrainingSession],
    steps: int,
    diverged: dict[int, int],
    stop: Callable[[], bool],
) -> bool:
    """Step `sessions` together; a run that diverges leaves the group. True if stopped. The
    members are written back whole (optimizer state, step count…) to be captured after."""
    group = RunGroup(sessions)
    done = 0
    stopped = False
    while done < steps and group.members:
        if stop():
            stopped = True
            break
        burst = min(CHUNK_STEPS, steps - done)
        results = group.train_steps(burst)
        out = [r for r in results if r.diverged_at is not None]
        for result in out:
            diverged[id(result.session)] = int(result.diverged_at or 0)
        if out:
            group.leave(*(r.session for r in out))
        # A burst ends early at a divergence: the others stepped as far as that.
        done += max((len(r.losses) for r in results), default=burst)
    for session in group.members:
        group.sync_out(session)
    return stopped
