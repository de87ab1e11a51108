"""Gradient health, optimizer state, the timeline and the runs as protocol messages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.protocol import (
    GradientHealth,
    HealthFlagState,
    LayerHealth,
    LayerOptimizerState,
    RunCurve,
    RunsFrame,
    TimelineState,
)
from app.realtime.wire import finite_or_none
from app.training.datasets import task_of
from app.training.grad_health import PERCENTILES, health_report
from app.training.grad_monitor import GradientStats
from app.training.optimizer_state import weight_states
from app.training.session import TrainingSession
from app.training.task import TASKS


def _list(values: list[float] | np.ndarray) -> list[float | None]:
    return [finite_or_none(float(v)) for v in values]


def _matrix(values: np.ndarray | None) -> list[list[float]] | None:
    # Optimizer state is finite whenever the parameters are (a diverged run is restored).
    return None if values is None else np.nan_to_num(values).tolist()


@dataclass(frozen=True)
class GradientFigures:
    """The per-layer figures a LossPoint carries (None before any step)."""

    grad_norm: list[float | None] | None = None
    mean_abs_grad: list[float | None] | None = None
    max_abs_grad: list[float | None] | None = None
    update_ratio: list[float | None] | None = None


def gradient_figures(stats: GradientStats | None) -> GradientFigures:
    if stats is None:
        return GradientFigures()
    return GradientFigures(
        grad_norm=_list(stats.grad_norm),
        mean_abs_grad=_list(stats.mean_abs_grad),
        max_abs_grad=_list(stats.max_abs_grad),
        update_ratio=_list(stats.update_ratio),
    )


@dataclass(frozen=True)
class FrameHealth:
    """The frame fields `health`, `optimizer_state` and `timeline`: computed a few times a
    second while training, and repeated in the frames between."""

    health: GradientHealth
    optimizer_state: list[LayerOptimizerState] | None
    timeline: TimelineState


def latest_gradients(session: TrainingSession) -> GradientStats | None:
    """The figures of the burst that ended at the current step (after a rewind: that step's)."""
    for record in reversed(session.history):
        if record.step == session.step_count:
            return record.gradients
        if record.step < session.step_count:
            break
    return None


def frame_health(session: TrainingSession) -> FrameHealth:
    report = health_report(session.model, session.data.train_x, latest_gradients(session))
    health = GradientHealth(
        percentiles=list(PERCENTILES),
        layers=[
            LayerHealth(
                dead_fraction=report.units.dead_fraction[i]
                if i < len(report.units.dead_fraction)
                else None,
                saturated_fraction=report.units.saturated_fraction[i]
                if i < len(report.units.saturated_fraction)
                else None,
                weights=_list(d.weights),
                gradients=None if d.gradients is None else _list(d.gradients),
                activations=_list(d.activations),
            )
            for i, d in enumerate(report.distributions)
        ],
        flags=[
            HealthFlagState(kind=f.kind, layer=f.layer, message=f.message) for f in report.flags
        ],
    )
    states = weight_states(session.optimizer, session.model)
    optimizer_state = (
        None
        if states is None
        else [
            LayerOptimizerState(
                momentum=_matrix(s.momentum),
                exp_avg=_matrix(s.exp_avg),
                exp_avg_sq=_matrix(s.exp_avg_sq),
                step_size=_matrix(s.step_size),
            )
            for s in states
        ]
    )
    t = session.timeline
    timeline = TimelineState(
        steps=t.steps, run=t.current.id, run_name=t.current.name, note=t.note()
    )
    return FrameHealth(health=health, optimizer_state=optimizer_state, timeline=timeline)


def runs_frame(session: TrainingSession) -> RunsFrame:
    runs = session.runs()
    return RunsFrame(
        runs=[
            RunCurve(
                id=r.id,
                name=r.name,
                parent=r.parent,
                branch_step=r.branch_step,
                current=r is runs[-1],
                loss_name=TASKS[task_of(r.config.data.dataset)].loss_name,
                # The current run's curve is the frame's losses; only archived runs send theirs.
                steps=[] if r is runs[-1] else [p.step for p in r.history],
                train=[] if r is runs[-1] else [finite_or_none(p.train) for p in r.history],
            )
            for r in runs
        ]
    )
