"""Turns engine results into protocol messages: the one place engine state becomes wire data."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np

from app.protocol import DataFrame, Heatmap, LayerState, LossPoint, Point, RunStatus, StepFrame
from app.realtime.health_frames import FrameHealth, frame_health, gradient_figures
from app.realtime.wire import array_base64, finite_or_none, float32_base64
from app.training.datasets import INPUT_EXTENT
from app.training.session import Evaluation, LossRecord, TrainingSession
from app.training.stacked.pictures import Pictures


def quantise(grid: np.ndarray, low: float, high: float) -> Heatmap:
    """Bytes instead of floats: a 64² map is 5.5 kB of base64 rather than ~40 kB of JSON."""
    span = high - low if high > low else 1.0
    scaled = (grid - low) / span
    if not np.isfinite(scaled).all():  # checked first: nan_to_num costs more than the rest
        scaled = np.nan_to_num(scaled, nan=0.5, posinf=1.0, neginf=0.0)
    data = np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)
    return Heatmap(resolution=grid.shape[0], low=low, high=high, data=array_base64(data, "u1"))


def layer_heatmaps(grids: np.ndarray, activation: str) -> list[Heatmap]:
    """Each neuron's map of a layer (neurons, res, res), quantised in one pass (a frame has a
    map per neuron, and a call each cost more than the arithmetic). Squashing activations
    keep their natural range, so colours compare across neurons; others span ±max |value|."""
    n = grids.shape[0]
    if activation == "tanh":
        low, high = np.full(n, -1.0), np.full(n, 1.0)
    elif activation in ("sigmoid", "softmax"):
        low, high = np.zeros(n), np.ones(n)
    else:
        flat = grids.reshape(n, -1)
        largest = np.where(np.isfinite(flat), np.abs(flat), 0.0).max(axis=1, initial=0.0)
        # In float64: a diverging ReLU's map spans ±3e38, and float32 overflowed in the span.
        largest = largest.astype(np.float64)
        largest = np.where(largest > 0, largest, 1.0)
        low, high = -largest, largest
    scaled = (grids - low[:, None, None]) / (high - low)[:, None, None]
    if not np.isfinite(scaled).all():  # checked first: nan_to_num costs more than the rest
        scaled = np.nan_to_num(scaled, nan=0.5, posinf=1.0, neginf=0.0)
    data = np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)
    resolution = grids.shape[1]
    # model_construct: these fields are built right here, and validating a model per neuron
    # was the largest share of a grouped frame.
    return [
        Heatmap.model_construct(
            resolution=resolution,
            low=float(low[i]),
            high=float(high[i]),
            data=base64.b64encode(data[i].tobytes()).decode(),
        )
        for i in range(n)
    ]


# Every neuron's thumbnail travels in every frame: past this many bytes in all, thumbnails get
# coarser (never below 12², still finer than Playground's 10²), keeping big models' frames small.
NEURON_MAP_BYTES_BUDGET = 24_000
MIN_NEURON_MAP_RESOLUTION = 12


def map_resolution(requested: int, neurons: int) -> int:
    affordable = int(math.sqrt(NEURON_MAP_BYTES_BUDGET / max(1, neurons)))
    return max(MIN_NEURON_MAP_RESOLUTION, min(requested, affordable))


def loss_point(record: LossRecord) -> LossPoint:
    figures = gradient_figures(record.gradients)
    return LossPoint(
        step=record.step,
        epoch=record.epoch,
        train=finite_or_none(record.train),
        test=finite_or_none(record.test),
        penalty=finite_or_none(record.penalty),
        learning_rate=finite_or_none(record.learning_rate),
        grad_norm=figures.grad_norm,
        mean_abs_grad=figures.mean_abs_grad,
        max_abs_grad=figures.max_abs_grad,
        update_ratio=figures.update_ratio,
    )


def loss_points(records: list[LossRecord]) -> list[LossPoint]:
    return [loss_point(r) for r in records]


def data_frame(session: TrainingSession) -> DataFrame:
    d = session.data

    def points(x: np.ndarray, y: np.ndarray) -> list[Point]:
        return [
            Point(x1=float(a), x2=float(b), label=float(c)) for (a, b), c in zip(x, y, strict=True)
        ]

    return DataFrame(
        extent=INPUT_EXTENT,
        train=points(d.train_x.numpy(), d.train_y.numpy().ravel()),
        test=points(d.test_x.numpy(), d.test_y.numpy().ravel()),
    )


def step_frame(
    session: TrainingSession,
    status: RunStatus,
    message: str | None,
    boundary_resolution: int,
    neuron_map_resolution: int,
    steps_per_second: float,
    health: FrameHealth | None = None,
    evaluation: Evaluation | None = None,
    pictures: Pictures | None = None,
) -> StepFrame:
    """The frame without its `losses`: those depend on what each page has already received.

    `health` and `evaluation` (the losses on every point, which a burst has just computed)
    may be passed in to reuse them; `pictures`, a group's painting of this run at its step,
    stands for the run's own readouts and evaluation."""
    if pictures is not None:
        evaluation = pictures.evaluation
    if evaluation is None:
        evaluation = session.evaluate()
    if health is None:
        health = frame_health(session)
    toolkit = task_pictures(session, boundary_resolution, pictures)
    if pictures is not None:
        grids = pictures.neuron_grids
    else:
        grids = session.neuron_grids(neuron_resolution(session, neuron_map_resolution))
    activations = [*session.model.activations, session.output_activation]
    layers = [
        LayerState(
            shape=(s.weights.shape[0], s.weights.shape[1]),
            weights=float32_base64(s.weights),
            biases=float32_base64(s.biases),
            weight_grads=None if s.weight_grads is None else float32_base64(s.weight_grads),
            bias_grads=None if s.bias_grads is None else float32_base64(s.bias_grads),
        )
        for s in session.layer_snapshots()
    ]
    return StepFrame(
        step=session.step_count,
        epoch=session.sampler.epoch,
        status=status,
        message=message,
        learning_rate=session.learning_rate,
        train_loss=finite_or_none(evaluation.train_loss),
        test_loss=finite_or_none(evaluation.test_loss),
        train_accuracy=finite_or_none(evaluation.train_accuracy),
        test_accuracy=finite_or_none(evaluation.test_accuracy),
        losses=[],
        losses_reset=False,
        layers=layers,
        activations=session.model.activations,
        boundary=boundary_heatmap(
            session,
            boundary_resolution,
            None if pictures is None else pictures.boundary,
        ),
        neuron_maps=[
            layer_heatmaps(layer_grids, act)
            for layer_grids, act in zip(grids, activations, strict=True)
        ],
        steps_per_second=steps_per_second,
        train_penalty=finite_or_none(evaluation.train_penalty),
        task=session.data.task,
        loss_name=session.loss_name,
        output_activation=session.output_activation,
        features=list(session.model.features.names),
        frozen_layers=list(session.config.model.frozen_layers),
        prelu_slopes=session.prelu_slopes(),
        class_maps=toolkit.class_maps,
        curve=toolkit.curve,
        grad_norm=session.last_grad_norm,
        health=health.health,
        optimizer_state=health.optimizer_state,
        timeline=health.timeline,
    )


# The regression targets (plane, sine) lie in about [-1, 1]; the map saturates beyond.
REGRESSION_RANGE = (-1.5, 1.5)
CURVE_POINTS = 121


def neuron_resolution(session: TrainingSession, requested: int) -> int:
    """The neuron maps' resolution for this run's number of neurons (see map_resolution)."""
    biases = (p for name, p in session.model.named_parameters() if name.endswith("bias"))
    return map_resolution(requested, sum(p.shape[0] for p in biases))


def boundary_heatmap(
    session: TrainingSession, resolution: int, grid: np.ndarray | None = None
) -> Heatmap:
    """`grid`: the run's predict_grid(resolution) when a group painted it already."""
    if grid is None:
        grid = session.predict_grid(resolution)
    if session.data.task == "regression":
        return quantise(grid, *REGRESSION_RANGE)
    return quantise(grid, 0.0, 1.0)


@dataclass(frozen=True)
class TaskPictures:
    """The pictures a frame has for some tasks only: one map per class, or the 1-D curve."""

    class_maps: list[Heatmap] | None
    curve: list[float | None] | None


def task_pictures(
    session: TrainingSession, resolution: int, pictures: Pictures | None = None
) -> TaskPictures:
    task = session.data.task
    curve = None
    if task == "regression" and bool((session.data.train_x[:, 1] == 0).all()):
        _, values = session.predict_curve(CURVE_POINTS)
        curve = [finite_or_none(float(v)) for v in values]
    class_maps = None
    if task == "multiclass":
        grids = None if pictures is None else pictures.class_grids
        if grids is None:
            grids = session.class_grids(resolution)
        class_maps = [quantise(g, 0.0, 1.0) for g in grids]
    return TaskPictures(class_maps=class_maps, curve=curve)
