"""The digits lab's loss landscape: the loss over a plane through a CNN's weights (Li et al. 2018).

Two halves, as in the plane lab's landscape.py: `take_snapshot` copies what the picture needs
(cheap, under the run's lock), and a `LandscapePlan` evaluates it a chunk of points at a time
on that copy, so training and other learners can go on between chunks.

Every vector here (centre, directions, path points) is flat in the order of
`parameters_to_vector(model.parameters())`, all of the model's parameters, batch norm's too.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector

from app.training.directions import project_path
from app.training.images.run import ImageRun
from app.training.trajectory import MAX_TRAJECTORY_POINTS, Trajectory, TrajectoryPoint

MIN_RESOLUTION = 5
MAX_RESOLUTION = 41
# Filter-normalised directions have a natural unit (a step of 1 moves every filter by its own
# norm; Li et al. draw ±1): five times that is far past where the loss means anything.
MAX_SPAN = 5.0
# The loss is averaged over this fixed, seeded subset of the training images, not all ~1,260:
# a 21×21 grid of the default CNN then takes ~0.8 s instead of ~3 s (one thread, measured).
LANDSCAPE_IMAGES = 256
SUBSET_SEED = 0
# Points on the straight line from the path's first parameters to the current ones.
LINE_POINTS = 21
# A path point holds every parameter: the path keeps at most this many floats in all (16 MB),
# so the largest allowed model keeps a few points and the default CNN the full 400.
TRAJECTORY_FLOATS = 4_000_000


def landscape_subset(n_train: int) -> Tensor:
    """Which training images the landscape's loss is averaged over (the same every time)."""
    generator = torch.Generator().manual_seed(SUBSET_SEED)
    return torch.randperm(n_train, generator=generator)[:LANDSCAPE_IMAGES]


def flat_parameters(model: nn.Module) -> Tensor:
    return parameters_to_vector(model.parameters()).detach().clone()


def new_trajectory(model: nn.Module) -> Trajectory:
    """A path bounded to TRAJECTORY_FLOATS for this model's size."""
    size = sum(p.numel() for p in model.parameters())
    return Trajectory(max(3, min(MAX_TRAJECTORY_POINTS, TRAJECTORY_FLOATS // size)))


# ---- filter-normalised directions -------------------------------------------------------------


def filter_normalised(model: nn.Module, direction: Tensor, *, include_bias: bool = True) -> Tensor:
    """`direction` (flat) with each filter's block scaled to that filter's norm in `model`.

    A filter is a Conv2d's output channel (its kernel [in, kh, kw]) or a Linear's neuron (its
    row), with its bias unless `include_bias` is False (the plane lab's semantics: the bias
    scales with the filter under ReLU's rescaling symmetry). Batch norm's weight and bias, and
    any other parameter, get a zero direction, the paper's "ignore biasbn": they are one number
    per channel with no filter whose norm could give them a scale, and batch norm renormalises
    what comes in, so the filters' directions already move what its output sees. A filter whose
    weights are all zero gets a zero block.
    """
    out = torch.zeros_like(direction)
    where: dict[int, slice] = {}
    at = 0
    for parameter in model.parameters():
        where[id(parameter)] = slice(at, at + parameter.numel())
        at += parameter.numel()
    if at != direction.numel():
        raise ValueError(f"the direction has {direction.numel()} numbers, the model {at}")
    for layer in _filter_layers(model):
        filters = layer.weight.shape[0]
        parts = [(where[id(layer.weight)], layer.weight)]
        if include_bias and layer.bias is not None:
            parts.append((where[id(layer.bias)], layer.bias))
        d_block = torch.cat([direction[block].view(filters, -1) for block, _ in parts], 1)
        c_block = torch.cat([p.detach().reshape(filters, -1) for _, p in parts], 1)
        scale = c_block.norm(dim=1, keepdim=True) / d_block.norm(dim=1, keepdim=True)
        scaled = torch.nan_to_num(d_block * scale)  # 0/0 of an all-zero filter
        column = 0
        for block, p in parts:
            width = p[0].numel()
            out[block] = scaled[:, column : column + width].reshape(-1)
            column += width
    return out


def _filter_layers(model: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def random_directions(
    model: nn.Module, seed: int, *, include_bias: bool = True
) -> tuple[Tensor, Tensor]:
    """Two seeded Gaussian directions, filter-normalised; not orthogonalised (as in the paper:
    `project_path` solves for the coordinates by least squares)."""
    generator = torch.Generator().manual_seed(seed)
    size = sum(p.numel() for p in model.parameters())
    d1 = torch.randn(size, generator=generator)
    d2 = torch.randn(size, generator=generator)
    return (
        filter_normalised(model, d1, include_bias=include_bias),
        filter_normalised(model, d2, include_bias=include_bias),
    )


# ---- the snapshot and the evaluation ----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What a landscape needs, copied: training may change the run meanwhile."""

    step: int
    model: nn.Sequential  # a copy in eval mode: its batch norm's running statistics are used
    center: Tensor
    x: Tensor
    y: Tensor
    trajectory: list[TrajectoryPoint]


def take_snapshot(run: ImageRun, trajectory: Trajectory) -> Snapshot:
    """Copy the run's model and the path (ending at the current weights); under the run lock."""
    center = flat_parameters(run.model)
    points = trajectory.points()
    if not points or points[-1].step != run.step_count:
        trajectory.record(run.step_count, center, run.last_loss)
        points = trajectory.points()
    subset = landscape_subset(len(run.data.train_x))
    model = copy.deepcopy(run.model).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
        parameter.grad = None
    return Snapshot(
        run.step_count, model, center, run.data.train_x[subset], run.data.train_y[subset], points
    )


@torch.no_grad()
def losses_at(snapshot: Snapshot, base: Tensor, directions: Tensor, coefs: Tensor) -> Tensor:
    """The loss at base + coefs[g] @ directions for every g (directions [2, P], coefs [G, 2]).

    One functional_call per point on the snapshot's images: measured as fast as torch.func.vmap
    over the points here (vmap 840 ms, a loop 770 ms for 441 points of the default CNN), and
    it needs no memory for a whole chunk's activations.
    """
    names = [name for name, _ in snapshot.model.named_parameters()]
    shapes = [p.shape for _, p in snapshot.model.named_parameters()]
    sizes = [p.numel() for _, p in snapshot.model.named_parameters()]
    thetas = torch.addmm(base, coefs, directions)  # one small GEMM for the chunk
    values = torch.empty(len(coefs))
    for g, theta in enumerate(thetas):
        pieces = torch.split(theta, sizes)
        params = {n: t.view(s) for n, t, s in zip(names, pieces, shapes, strict=True)}
        logits = functional_call(snapshot.model, params, (snapshot.x,))
        values[g] = F.cross_entropy(logits, snapshot.y)
    return values


@dataclass(frozen=True)
class Landscape:
    step: int
    span: float
    seed: int
    alphas: Tensor  # [R] along d1 (columns)
    betas: Tensor  # [R] along d2 (rows)
    loss: Tensor  # [R, R]: row i at betas[i], column j at alphas[j]; NaN where not finite
    center_loss: float
    images: int
    path_steps: list[int]
    path_coords: Tensor  # (n, 2)
    path_residual: Tensor  # (n,)
    path_loss: list[float]
    line_loss: Tensor  # [LINE_POINTS], from the path's first point to the current one
    line_distance: float


class LandscapePlan:
    """The points to evaluate for one landscape: the grid row by row, the centre, the line.

    Each point is base + a·d1 + b·d2 with its own base, a and b: the grid and the centre are
    around the current weights; the line is (1 − t)·first + t·current, written with base 0 so
    its ends are exactly the two weight vectors.
    """

    def __init__(self, snapshot: Snapshot, resolution: int, span: float, seed: int) -> None:
        if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution {resolution} outside {MIN_RESOLUTION}…{MAX_RESOLUTION}")
        if not 0 < span <= MAX_SPAN:
            raise ValueError(f"span {span} outside (0, {MAX_SPAN}]")
        self.snapshot, self.resolution, self.span, self.seed = snapshot, resolution, span, seed
        # The snapshot's model holds the centre's weights: the filters' norms are taken there.
        self.d1, self.d2 = random_directions(snapshot.model, seed)
        self.axis = torch.linspace(-span, span, resolution)
        first = snapshot.trajectory[0].params
        ts = torch.linspace(0.0, 1.0, LINE_POINTS)
        grid = torch.stack(
            [self.axis.repeat(resolution), self.axis.repeat_interleave(resolution)], 1
        )
        # (directions [2, P], base, coefficients [G, 2]) in evaluation order: grid, centre, line.
        self._parts = [
            (torch.stack([self.d1, self.d2]), snapshot.center, grid),
            (torch.stack([self.d1, self.d2]), snapshot.center, torch.zeros(1, 2)),
            (
                torch.stack([first, snapshot.center]),
                torch.zeros_like(first),
                torch.stack([1 - ts, ts], 1),
            ),
        ]
        self.size = sum(len(coefs) for *_, coefs in self._parts)

    def evaluate(self, start: int, stop: int) -> Tensor:
        """The losses of points start…stop − 1 (of `size`), in order."""
        out, at = [], 0
        for directions, base, coefs in self._parts:
            lo, hi = max(start, at), min(stop, at + len(coefs))
            if lo < hi:
                out.append(losses_at(self.snapshot, base, directions, coefs[lo - at : hi - at]))
            at += len(coefs)
        return torch.cat(out) if out else torch.empty(0)

    def landscape(self, values: Tensor) -> Landscape:
        """The picture from all `size` losses, in the order `evaluate` gave them."""
        if values.numel() != self.size:
            raise ValueError(f"{values.numel()} losses for a plan of {self.size} points")
        r2 = self.resolution**2
        grid = values[:r2].view(self.resolution, self.resolution)
        grid = grid.masked_fill(~torch.isfinite(grid), math.nan)
        snapshot = self.snapshot
        path = torch.stack([p.params for p in snapshot.trajectory])
        coords, residual = project_path(path, snapshot.center, self.d1, self.d2)
        return Landscape(
            step=snapshot.step,
            span=self.span,
            seed=self.seed,
            alphas=self.axis,
            betas=self.axis.clone(),
            loss=grid,
            center_loss=float(values[r2]),
            images=len(snapshot.x),
            path_steps=[p.step for p in snapshot.trajectory],
            path_coords=coords,
            path_residual=residual,
            path_loss=[p.loss for p in snapshot.trajectory],
            line_loss=values[r2 + 1 :].clone(),
            line_distance=float((snapshot.center - path[0]).norm()),
        )


def compute_landscape(snapshot: Snapshot, resolution: int, span: float, seed: int) -> Landscape:
    """The whole landscape in one go (tests, benchmarks); the live page goes chunk by chunk."""
    plan = LandscapePlan(snapshot, resolution, span, seed)
    return plan.landscape(plan.evaluate(0, plan.size))
