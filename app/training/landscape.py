"""One loss-landscape picture of a run: a plane of losses, the path on it, and the 1-D line.

Two halves, so training never waits for the maths: `take_snapshot` copies what the picture needs
(cheap, done between training bursts), and `compute_landscape` does the batched evaluation on
that copy while training goes on.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from app.training.directions import (
    flat_params,
    linear_parameters,
    pca_directions,
    project_path,
    random_directions,
    weight_directions,
)
from app.training.model import MLP
from app.training.surface import loss_along_line, loss_surface
from app.training.task import SurfaceLoss
from app.training.trainer import TrainingSession
from app.training.trajectory import Trajectory, TrajectoryPoint

DirectionMode = Literal["random", "pca", "weights"]
# (layer, out_neuron, in_neuron): layers[layer].weight[out_neuron, in_neuron].
WeightIndex = tuple[int, int, int]

# Points on the straight line from the initial to the current parameters.
LINE_POINTS = 41
# An automatic span frames the path with this much room around it...
PATH_MARGIN = 1.3
# ...but never less than this: filter-normalised random directions have a natural unit (a step
# of 1 moves every neuron by its own norm, Li et al. use [−1, 1]); a weight's axis is in raw
# weight units; PCA axes only ever frame the path, however short.
MIN_AUTO_SPAN: dict[str, float] = {"random": 1.0, "weights": 0.5, "pca": 1e-3}


class LandscapeError(ValueError):
    """A request this run cannot answer yet (or at all); `field` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Snapshot:
    """Everything a landscape needs, copied: training may change the originals meanwhile."""

    step: int
    model: MLP  # architecture and activations only; its parameters are not read
    loss: SurfaceLoss
    x: Tensor
    y: Tensor
    center: Tensor
    trajectory: list[TrajectoryPoint]


class Landscape(NamedTuple):
    step: int
    span: float
    center: Tensor
    d1: Tensor
    d2: Tensor
    loss: Tensor  # [resolution, resolution]; row i at beta_i, column j at alpha_j, NaN off-scale
    center_loss: float
    path_steps: list[int]
    path_coords: Tensor  # (n, 2) alpha, beta of each trajectory point
    path_residual: Tensor  # (n,) distance of each point from the plane
    path_loss: list[float]
    explained: Tensor | None  # PCA only: the variance fraction each direction captures
    line_loss: Tensor  # [LINE_POINTS] from the path's first point to the current one
    line_distance: float  # ‖current − first‖


def take_snapshot(session: TrainingSession, trajectory: Trajectory) -> Snapshot:
    """Copy the current state; run it where the session is not training (between bursts)."""
    center = flat_params(session.model)
    points = trajectory.points()
    if not points or points[-1].step != session.step_count:
        trajectory.record(session.step_count, center)
        points = trajectory.points()
    return Snapshot(
        step=session.step_count,
        model=_detached_copy(session.model),
        loss=session.task.surface_loss,
        # The first nn.Linear sees the model's input features (x₁², sin x₁, …), not the points.
        x=_features(session.model, session.data.train_x),
        y=session.data.train_y.clone(),
        center=center,
        trajectory=points,
    )


def _detached_copy(model: MLP) -> MLP:
    """A deep copy without what the last forward pass cached for autograd (activations kept
    for a penalty): those are not graph leaves, so deepcopy refuses them, and a surface never
    needs them."""
    memo: dict[int, Any] = {
        id(value): []
        for value in vars(model).values()
        if isinstance(value, list) and any(isinstance(t, Tensor) and t.grad_fn for t in value)
    }
    return copy.deepcopy(model, memo)


@torch.no_grad()
def _features(model: MLP, points: Tensor) -> Tensor:
    features = getattr(model, "features", None)
    return (features(points) if features is not None else points).clone()


def directions(
    snapshot: Snapshot, mode: DirectionMode, seed: int, weights: list[WeightIndex] | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The plane's two directions for `mode`, and PCA's explained variance (None otherwise)."""
    model = copy.deepcopy(snapshot.model)
    # random_directions normalises against the model's own parameters: give it the centre.
    torch.nn.utils.vector_to_parameters(snapshot.center, linear_parameters(model))
    if mode == "random":
        d1, d2 = random_directions(model, seed)
        return d1, d2, None
    if mode == "weights":
        if not weights or len(weights) != 2:
            raise LandscapeError("weights", "choose two weights (click two edges of the network)")
        try:
            d1, d2 = weight_directions(model, weights[0], weights[1])
        except (IndexError, ValueError) as error:
            raise LandscapeError("weights", f"{error}: choose two edges of this network") from error
        return d1, d2, None
    path = torch.stack([p.params for p in snapshot.trajectory])
    if len(path) < 3 or float((path - path[-1]).abs().max()) == 0.0:
        raise LandscapeError("mode", "the PCA directions need a path: train a few steps first")
    pca = pca_directions(path)
    return pca.d1, pca.d2, pca.explained


def compute_landscape(
    snapshot: Snapshot,
    mode: DirectionMode,
    resolution: int,
    span: float | None,
    max_span: float,
    seed: int = 0,
    weights: list[WeightIndex] | None = None,
) -> Landscape:
    """The loss over the plane around the snapshot's parameters, with the path projected on it.

    `span` None fits the plane to the path (see MIN_AUTO_SPAN), capped at `max_span`.
    """
    d1, d2, explained = directions(snapshot, mode, seed, weights)
    path = torch.stack([p.params for p in snapshot.trajectory])
    coords, residual = project_path(path, snapshot.center, d1, d2)
    if span is None:
        extent = float(coords.abs().max()) if coords.numel() else 0.0
        extent = extent if math.isfinite(extent) else max_span
        span = min(max_span, max(MIN_AUTO_SPAN[mode], PATH_MARGIN * extent))
    model, loss, x, y = snapshot.model, snapshot.loss, snapshot.x, snapshot.y
    surface = loss_surface(model, loss, x, y, snapshot.center, d1, d2, span, resolution)
    first = path[0]
    line = loss_along_line(model, loss, x, y, first, snapshot.center, LINE_POINTS)
    return Landscape(
        step=snapshot.step,
        span=span,
        center=snapshot.center,
        d1=d1,
        d2=d2,
        loss=surface.loss,
        center_loss=float(line.loss[-1]),
        path_steps=[p.step for p in snapshot.trajectory],
        path_coords=coords,
        path_residual=residual,
        path_loss=[p.loss for p in snapshot.trajectory],
        explained=explained,
        line_loss=line.loss,
        line_distance=float((snapshot.center - first).norm()),
    )
