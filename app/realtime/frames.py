"""Turns engine results into protocol messages: the one place engine state becomes wire data."""

from __future__ import annotations

import base64
import math

import numpy as np

from app.protocol import DataFrame, Heatmap, LayerState, LossPoint, Point, RunStatus, StepFrame
from app.training.datasets import INPUT_EXTENT
from app.training.session import LossRecord, TrainingSession


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def quantise(grid: np.ndarray, low: float, high: float) -> Heatmap:
    """Bytes instead of floats: a 64² map is 5.5 kB of base64 rather than ~40 kB of JSON."""
    span = high - low if high > low else 1.0
    scaled = np.nan_to_num((grid - low) / span, nan=0.5, posinf=1.0, neginf=0.0)
    data = np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)
    return Heatmap(
        resolution=grid.shape[0], low=low, high=high, data=base64.b64encode(data.tobytes()).decode()
    )


def neuron_heatmap(grid: np.ndarray, activation: str) -> Heatmap:
    """Squashing activations keep their natural range, so colours compare across neurons."""
    if activation == "tanh":
        return quantise(grid, -1.0, 1.0)
    if activation == "sigmoid":
        return quantise(grid, 0.0, 1.0)
    largest = float(np.nanmax(np.abs(grid))) if grid.size else 1.0
    largest = largest if math.isfinite(largest) and largest > 0 else 1.0
    return quantise(grid, -largest, largest)


def loss_points(records: list[LossRecord]) -> list[LossPoint]:
    return [
        LossPoint(
            step=r.step, epoch=r.epoch, train=finite_or_none(r.train), test=finite_or_none(r.test)
        )
        for r in records
    ]


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
) -> StepFrame:
    """The frame without its `losses`: those depend on what each page has already received."""
    evaluation = session.evaluate()
    grids = session.neuron_grids(neuron_map_resolution)
    activations = [*session.model.activations, "sigmoid"]
    layers = [
        LayerState(
            weights=s.weights.tolist(),
            biases=s.biases.tolist(),
            weight_grads=None if s.weight_grads is None else s.weight_grads.tolist(),
            bias_grads=None if s.bias_grads is None else s.bias_grads.tolist(),
        )
        for s in session.layer_snapshots()
    ]
    return StepFrame(
        step=session.step_count,
        epoch=session.sampler.epoch,
        status=status,
        message=message,
        learning_rate=session.config.training.learning_rate,
        train_loss=finite_or_none(evaluation.train_loss),
        test_loss=finite_or_none(evaluation.test_loss),
        train_accuracy=finite_or_none(evaluation.train_accuracy),
        test_accuracy=finite_or_none(evaluation.test_accuracy),
        losses=[],
        losses_reset=False,
        layers=layers,
        activations=session.model.activations,
        boundary=quantise(session.predict_grid(boundary_resolution), 0.0, 1.0),
        neuron_maps=[
            [neuron_heatmap(g, act) for g in layer_grids]
            for layer_grids, act in zip(grids, activations, strict=True)
        ],
        steps_per_second=steps_per_second,
    )
