"""Directions through parameter space, and a path projected on the plane they span.

The flat layout of an MLP's linear parameters; the planes a loss landscape is drawn on (random,
PCA of the path, two weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parameters_to_vector

from app.training.model import MLP

# Every vector here (center, directions, trajectory points) is a FLAT float32 vector of the
# nn.Linear parameters in the order of `parameters_to_vector`: layers[0].weight row by row,
# layers[0].bias, layers[1].weight, … — the same order `flat_params` returns. Other parameters
# (a PReLU slope) are not part of the plane: the surface holds them at the model's values.


class PcaDirections(NamedTuple):
    d1: Tensor  # [P] unit vector, the direction of largest variance
    d2: Tensor  # [P] unit vector orthogonal to d1
    explained: Tensor  # [2] fraction of the trajectory's variance each direction captures


def linear_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the plane moves: every nn.Linear's weight then bias, layer by layer."""
    return [p for layer in linear_layers(model) for p in (layer.weight, layer.bias)]  # type: ignore[misc]


def flat_params(model: nn.Module) -> Tensor:
    """A detached copy of the model's linear parameters as one flat vector (the layout here)."""
    return parameters_to_vector(linear_parameters(model)).detach().clone()


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's nn.Linear layers, in order; TypeError for anything else."""
    layers = list(model.layers)  # type: ignore[arg-type]
    for layer in layers:
        if not isinstance(layer, nn.Linear) or layer.bias is None:
            raise TypeError("the surface needs an MLP of nn.Linear layers with biases")
    return layers


def layer_offsets(model: MLP) -> list[int]:
    """Where each layer's weight starts in the flat vector (its bias follows the weight)."""
    offsets, at = [], 0
    for layer in linear_layers(model):
        offsets.append(at)
        at += layer.weight.numel() + layer.out_features
    return offsets


def random_directions(model: MLP, seed: int, *, include_bias: bool = True) -> tuple[Tensor, Tensor]:
    """Two seeded Gaussian directions, filter-normalised as in Li et al. 2018.

    A "filter" of an MLP is one neuron: its row of incoming weights and, by default, its bias.
    Each neuron's block in the direction is rescaled to the norm of that neuron's block in the
    model, so a step of 1 moves every neuron by its own size and ReLU's rescaling symmetry (w, b
    → αw, αb) cannot stretch or flatten the picture. The bias belongs to the block because it
    scales with the row under that symmetry, and in a 2-input net it is a third of the first
    layer; `include_bias=False` zeroes the bias directions instead (the paper's `ignore biasbn`).
    The two directions are not orthogonalised (as in the paper); `project_path` allows for that.
    A neuron whose weights are all zero gets a zero block (its norm is 0).
    """
    generator = torch.Generator().manual_seed(seed)
    center = flat_params(model)
    d1 = torch.randn(center.shape, generator=generator)
    d2 = torch.randn(center.shape, generator=generator)
    return (
        _filter_normalise(model, d1, center, include_bias),
        _filter_normalise(model, d2, center, include_bias),
    )


def _filter_normalise(model: MLP, direction: Tensor, center: Tensor, include_bias: bool) -> Tensor:
    out = direction.clone()
    for layer, at in zip(linear_layers(model), layer_offsets(model), strict=True):
        m, k = layer.out_features, layer.in_features
        w = slice(at, at + m * k)
        b = slice(at + m * k, at + m * k + m)
        if include_bias:
            d_block = torch.cat([out[w].view(m, k), out[b].view(m, 1)], 1)
            c_block = torch.cat([center[w].view(m, k), center[b].view(m, 1)], 1)
        else:
            d_block, c_block = out[w].view(m, k), center[w].view(m, k)
            out[b] = 0.0
        scale = c_block.norm(dim=1, keepdim=True) / d_block.norm(dim=1, keepdim=True)
        scaled = d_block * scale
        out[w] = scaled[:, :k].reshape(-1)
        if include_bias:
            out[b] = scaled[:, k]
    return out


def pca_directions(trajectory: Sequence[Tensor] | Tensor) -> PcaDirections:
    """The top two principal directions of a path of flat parameter vectors (Li et al. §7).

    As in the paper, PCA runs on the offsets from the LAST point (the current parameters, the
    usual center), not from the mean. Signs are fixed so the first point projects to negative
    coordinates: the path then always arrives from the lower left and the view does not flip
    when it is recomputed. Needs at least 2 points; with fewer than 3 distinct points the second
    direction is an arbitrary orthonormal completion with explained variance 0.
    """
    points = _as_matrix(trajectory)
    if points.shape[0] < 2:
        raise ValueError("PCA directions need a trajectory of at least 2 points")
    offsets = (points - points[-1]).double()
    _, s, vh = torch.linalg.svd(offsets, full_matrices=False)
    if vh.shape[0] < 2:  # only possible with a single parameter
        raise ValueError("PCA directions need at least 2 parameters")
    total = (s**2).sum()
    explained = (s[:2] ** 2) / total if total > 0 else torch.zeros(2, dtype=torch.float64)
    dirs = vh[:2].clone()
    flip = (offsets[0] @ dirs.T) > 0
    dirs[flip] = -dirs[flip]
    return PcaDirections(dirs[0].float(), dirs[1].float(), explained.float())


def weight_directions(
    model: MLP, first: tuple[int, int, int], second: tuple[int, int, int]
) -> tuple[Tensor, Tensor]:
    """Unit axes on two single weights, each given as (layer, out_neuron, in_neuron).

    `layers[layer].weight[out, in]` is the edge from neuron `in` of the previous layer to neuron
    `out`; spans are then in raw weight units.
    """
    if first == second:
        raise ValueError("the two weights must differ, or the plane is a line")
    size = sum(p.numel() for p in linear_parameters(model))
    layers, offsets = linear_layers(model), layer_offsets(model)
    axes = []
    for layer_index, out, inp in (first, second):
        if not 0 <= layer_index < len(layers):
            raise IndexError(f"no layer {layer_index}")
        layer = layers[layer_index]
        if not (0 <= out < layer.out_features and 0 <= inp < layer.in_features):
            raise IndexError(f"no weight ({out}, {inp}) in layer {layer_index}")
        axis = torch.zeros(size)
        axis[offsets[layer_index] + out * layer.in_features + inp] = 1.0
        axes.append(axis)
    return axes[0], axes[1]


def project_path(
    trajectory: Sequence[Tensor] | Tensor, center: Tensor, d1: Tensor, d2: Tensor
) -> tuple[Tensor, Tensor]:
    """Plane coordinates (n, 2) = (alpha, beta) of each point, and its distance off the plane (n,).

    Least squares, since d1 and d2 need not be orthogonal (filter-normalised random directions
    are not): coords minimise ‖θ − c − a·d1 − b·d2‖ and the residual is that minimum. A large
    residual warns that the drawn path is a shadow of one far from the plotted slice.
    """
    offsets = (_as_matrix(trajectory) - center).double().T  # (P, n)
    basis = torch.stack([d1, d2], 1).double()  # (P, 2)
    # gelsd tolerates a degenerate basis (d1 ∥ d2) instead of failing.
    coords = torch.linalg.lstsq(basis, offsets, driver="gelsd").solution  # (2, n)
    residual = (offsets - basis @ coords).norm(dim=0)
    return coords.T.float(), residual.float()


def _as_matrix(points: Sequence[Tensor] | Tensor) -> Tensor:
    return points if isinstance(points, Tensor) else torch.stack(list(points))
