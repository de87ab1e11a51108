"""The hidden space: the input plane's grid lines and the training points as a hidden layer sees
them, on two of its neurons or on its first two principal components.

Drawn frame after frame, it shows the layer folding and stretching the plane until the classes
come apart. The principal components are those of the training points' activations; their
signs are fixed (largest entry positive) so the picture does not flip between frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from app.training.datasets import INPUT_EXTENT
from app.training.errors import SettingError
from app.training.model import MLP

# 11 lines each way, 41 points along each: a grid whose folds stay smooth at 2 × 451 points.
GRID_LINES = 11
POINTS_PER_LINE = 41


@dataclass(frozen=True)
class HiddenSpace:
    layer: int
    # The two neurons drawn, or None for the principal components.
    neurons: tuple[int, int] | None
    points: torch.Tensor  # (n, 2): each training point's two coordinates
    grid: torch.Tensor  # (2 · GRID_LINES, POINTS_PER_LINE, 2): lines of constant x₂, then x₁
    # The share of the activations' variance each component explains (components only).
    explained: tuple[float, float] | None


def grid_lines(lines: int = GRID_LINES, samples: int = POINTS_PER_LINE) -> torch.Tensor:
    """Lines of the input plane: `lines` of constant x₂, then `lines` of constant x₁."""
    at = torch.linspace(-INPUT_EXTENT, INPUT_EXTENT, lines)
    along = torch.linspace(-INPUT_EXTENT, INPUT_EXTENT, samples)
    across = torch.stack([along.expand(lines, samples), at[:, None].expand(lines, samples)], -1)
    return torch.cat([across, across.flip(-1)])


def principal_axes(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float]]:
    """The mean of `h` (n, width), its first two principal directions (width, 2) and the share
    of variance each explains; a layer of one neuron gets a zero second direction."""
    mean = h.mean(0)
    _, s, vh = torch.linalg.svd(h - mean, full_matrices=False)
    axes = torch.zeros(h.shape[1], 2)
    k = min(2, vh.shape[0])
    axes[:, :k] = vh[:k].T
    signs = torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    axes = axes * torch.where(signs == 0, 1.0, signs)
    variance = s.pow(2)
    total = float(variance.sum())
    shares = [float(v) / total if total > 0 else 0.0 for v in variance[:2]]
    shares += [0.0] * (2 - len(shares))
    return mean, axes, (shares[0], shares[1])


@torch.no_grad()
def hidden_space(
    model: MLP, points: torch.Tensor, layer: int, neurons: tuple[int, int] | None
) -> HiddenSpace:
    """`points` (n, 2) and the grid through the network up to hidden layer `layer`, read on
    `neurons` or (None) on the layer's first two principal components of `points`."""
    n_hidden = len(model.layers) - 1
    if not 0 <= layer < n_hidden:
        raise SettingError("layer", f"no hidden layer {layer}: there are {n_hidden}")
    width = model.forward_all(points[:1])[layer].shape[1]
    grid = grid_lines()
    h_points = model.forward_all(points)[layer]
    h_grid = model.forward_all(grid.reshape(-1, 2))[layer]
    if neurons is None:
        mean, axes, explained = principal_axes(h_points)
        return HiddenSpace(
            layer,
            None,
            (h_points - mean) @ axes,
            ((h_grid - mean) @ axes).reshape(*grid.shape[:2], 2),
            explained,
        )
    for neuron in neurons:
        if not 0 <= neuron < width:
            raise SettingError("neurons", f"no neuron {neuron} in layer {layer}: it has {width}")
    chosen = list(neurons)
    return HiddenSpace(
        layer,
        neurons,
        h_points[:, chosen],
        h_grid[:, chosen].reshape(*grid.shape[:2], 2),
        None,
    )
