"""The loss surface: the loss over a plane (or line) through parameter space, evaluated batched."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils import vector_to_parameters

from app.training.directions import layer_offsets, linear_layers, linear_parameters
from app.training.model import MLP
from app.training.task import TASKS, SurfaceLoss

# Vectors (center, directions) are flat in the layout of directions.py; `x` is what the first
# nn.Linear takes: the model's input features, not the raw points.

# Targets per loss, as the task's nn losses take them: "bce" float 0/1 (n, k); "mse" float
# (n, k); "cross_entropy" int64 class indices (n,) with the model giving (n, C) logits.

# σ(±80) is still a normal float32 and tanh(40) rounds to 1, so clamping there changes nothing
# visible; without it, far-off grid points make sigmoid produce denormals, which run ~2× slower.
_SIGMOID_CLAMP = 80.0

# Floats in one layer's activations for a whole chunk. ~1 MB (this CPU's L2 per core) measured
# fastest: 81×81 on 2→[16×4]→1 with 500 points took 159 ms at 30 grid points per chunk, 190 ms
# at 64 and 292 ms at 128 (spilling to L3); smaller chunks pay torch's per-op overhead instead
# (182 ms at 16, 205 ms at 8).
_CHUNK_FLOATS = 256 * 1024


class Surface(NamedTuple):
    """`loss[i, j]` = L(center + alphas[j]·d1 + betas[i]·d2): rows follow d2, columns d1.

    Grid points whose loss is not finite (overflow far from the center) hold NaN in `loss` and
    False in `finite`, so a caller can mask them before serialising.
    """

    loss: Tensor  # [resolution, resolution] float32
    alphas: Tensor  # [resolution] coordinates along d1 (columns)
    betas: Tensor  # [resolution] coordinates along d2 (rows)
    finite: Tensor  # [resolution, resolution] bool


class Line(NamedTuple):
    """`loss[k]` = L((1 − ts[k])·start + ts[k]·end); NaN/`finite` as in `Surface`."""

    loss: Tensor  # [n] float32
    ts: Tensor  # [n] from 0 (start) to 1 (end)
    finite: Tensor  # [n] bool


# --- batched evaluation -------------------------------------------------------------------------


class _Act(NamedTuple):
    """An activation as h = post_scale · f(pre_scale · z) + post_shift with a cheap f.

    The scales and shift fold into the (tiny) weight matrices instead of costing passes over the
    (huge) activations. That is how tanh runs: tanh(z) = 2σ(2z) − 1, and torch's sigmoid is ~6×
    faster than its tanh on CPU (measured: 0.4 vs 2.5 ns per element, one thread).
    """

    f: Callable[[Tensor, Tensor], Tensor]  # (z, out) -> out
    pre_scale: float = 1.0
    post_scale: float = 1.0
    post_shift: float = 0.0


def _sigmoid(z: Tensor, out: Tensor) -> Tensor:
    return torch.sigmoid(z.clamp_(-_SIGMOID_CLAMP, _SIGMOID_CLAMP), out=out)


_ACTS: dict[str, _Act] = {
    "relu": _Act(lambda z, out: torch.clamp_min(z, 0.0, out=out)),
    "linear": _Act(lambda z, out: out.copy_(z)),
    "sigmoid": _Act(_sigmoid),
    "tanh": _Act(_sigmoid, pre_scale=2.0, post_scale=2.0, post_shift=-1.0),
    "leaky_relu": _Act(lambda z, out: out.copy_(F.leaky_relu_(z))),  # slope 0.01, as nn's
    "elu": _Act(lambda z, out: out.copy_(F.elu_(z))),
    "gelu": _Act(lambda z, out: out.copy_(F.gelu(z))),
}


def _activation(model: MLP, layer: int) -> _Act:
    """Hidden layer `layer`'s activation; a PReLU's learnt slope is held at its current value."""
    name = model.activations[layer]
    if layer in model.neuron_masks:
        # A neuron switched off is masked after the activation: nothing may be folded past it.
        # Activations are (g, features, points); the model's own activate wants features last.
        return _Act(
            lambda z, out: out.copy_(model.activate(layer, z.transpose(1, 2)).transpose(1, 2))
        )
    if name == "prelu":
        slope = getattr(model, "prelu")[str(layer)].detach().clone()  # noqa: B009
        return _Act(lambda z, out: out.copy_(F.prelu(z, slope)))
    if name not in _ACTS:
        raise ValueError(f"no batched loss surface for the activation {name!r}")
    return _ACTS[name]


def _augmented_order(model: MLP) -> Tensor:
    """A permutation of the flat vector putting each layer's [W | b] together as (out, in + 1).

    With a row of ones appended to every activation, one bmm then applies weights and bias: a
    separate broadcast bias add measured slower than the matmul itself.
    """
    parts = []
    for layer, at in zip(linear_layers(model), layer_offsets(model), strict=True):
        m, k = layer.out_features, layer.in_features
        w = torch.arange(at, at + m * k).view(m, k)
        b = torch.arange(at + m * k, at + m * k + m).view(m, 1)
        parts.append(torch.cat([w, b], 1).reshape(-1))
    return torch.cat(parts)


def _batched_loss(
    model: MLP,
    loss: SurfaceLoss,
    x: Tensor,
    y: Tensor,
    base: Tensor,
    d1: Tensor,
    d2: Tensor,
    a: Tensor,
    b: Tensor,
    chunk: int | None,
) -> Tensor:
    """Loss at θ_g = base + a[g]·d1 + b[g]·d2 for every g, a chunk of parameter sets at a time.

    Activations are laid out (g, features, points): points contiguous, so every layer is one bmm
    over the chunk of wide (out × in+1) @ (in+1 × n) products.
    """
    layers = linear_layers(model)
    sizes = [(layer.out_features, layer.in_features) for layer in layers]
    acts = [_activation(model, i) for i in range(len(model.activations))]
    if len(acts) != len(layers) - 1:
        raise ValueError("one activation per hidden layer expected")
    size = sum(layer.weight.numel() + layer.out_features for layer in layers)
    if not base.shape == d1.shape == d2.shape == (size,):
        raise ValueError(f"center and directions must be flat vectors of the {size} parameters")
    n = x.shape[0]
    widest = max(m for m, _ in sizes)
    if chunk is None:
        chunk = max(1, _CHUNK_FLOATS // ((widest + 1) * n))
    chunk = min(chunk, a.numel())

    order = _augmented_order(model)
    # Folding is linear in θ, so folding the three vectors once equals folding every θ_g.
    base, d1, d2 = (_fold_activations(sizes, acts, v[order]) for v in (base, d1, d2))
    dirs, coefs = torch.stack([d1, d2]), torch.stack([a, b], 1)
    x_aug = torch.cat([x.T, torch.ones(1, n)]).contiguous()  # (in + 1, n)
    target = _column_target(loss, y)
    # Per layer a pre-activation buffer and, for hidden layers, the next input with its ones row.
    z_bufs = [torch.empty(chunk, m, n) for m, _ in sizes]
    h_bufs = [torch.ones(chunk, m + 1, n) for m, _ in sizes[:-1]]
    result = torch.empty(a.numel())
    for start in range(0, a.numel(), chunk):
        g = min(chunk, a.numel() - start)
        theta = torch.addmm(base, coefs[start : start + g], dirs)  # (g, P): one small GEMM
        at = 0
        h = x_aug
        for i, (m, k) in enumerate(sizes):
            wb = theta[:, at : at + m * (k + 1)].view(g, m, k + 1)
            at += m * (k + 1)
            z = z_bufs[i][:g]
            if i == 0:  # the data is shared by every grid point: one plain matmul
                torch.mm(wb.reshape(g * m, k + 1), h, out=z.view(g * m, n))
            else:
                torch.bmm(wb, h, out=z)
            if i < len(acts):
                h = h_bufs[i][:g]
                acts[i].f(z, h[:, :m, :])
        result[start : start + g] = _column_loss(loss, z_bufs[-1][:g], target)
    return result


def _fold_activations(sizes: list[tuple[int, int]], acts: list[_Act], vector: Tensor) -> Tensor:
    """Move each activation's affine pre/post parts into the weights of an augmented vector."""
    parts, at = [], 0
    for i, (m, k) in enumerate(sizes):
        wb = vector[at : at + m * (k + 1)].view(m, k + 1)
        at += m * (k + 1)
        if i > 0:  # the next layer sees post_scale·f + post_shift: W·(s·f + t) + b
            prev = acts[i - 1]
            w, bias = wb[:, :k], wb[:, k:]
            wb = torch.cat(
                [w * prev.post_scale, bias + prev.post_shift * w.sum(1, keepdim=True)], 1
            )
        if i < len(acts):  # the layer's own output is scaled before f
            wb = wb * acts[i].pre_scale
        parts.append(wb.reshape(-1))
    return torch.cat(parts)


def _column_target(loss: SurfaceLoss, y: Tensor) -> Tensor:
    if loss == "cross_entropy":
        return y.long().view(1, -1)  # (1, n) class indices
    return y.reshape(y.shape[0], -1).T.contiguous()[None]  # (1, k, n)


def _column_loss(loss: SurfaceLoss, z: Tensor, target: Tensor) -> Tensor:
    """Mean loss per parameter set from logits z (g, k, n), reduced as the nn losses do."""
    g = z.shape[0]
    if loss == "bce":
        per = F.binary_cross_entropy_with_logits(z, target.expand_as(z), reduction="none")
    elif loss == "mse":
        per = (z - target).square_()
    elif loss == "cross_entropy":
        per = F.cross_entropy(z, target.expand(g, -1), reduction="none")
    else:
        raise ValueError(f"unknown loss {loss!r}")
    return per.reshape(g, -1).mean(1)


def _grid(span: float, resolution: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if resolution < 2:
        raise ValueError("resolution must be at least 2")
    alphas = torch.linspace(-span, span, resolution)
    betas = alphas.clone()
    # Flattened row-major: index i·R + j is (beta_i, alpha_j).
    return alphas, betas, alphas.repeat(resolution), betas.repeat_interleave(resolution)


def _finite(values: Tensor) -> tuple[Tensor, Tensor]:
    finite = torch.isfinite(values)
    return values.masked_fill(~finite, float("nan")), finite


@torch.no_grad()
def loss_surface(
    model: MLP,
    loss: SurfaceLoss,
    x: Tensor,
    y: Tensor,
    center: Tensor,
    d1: Tensor,
    d2: Tensor,
    span: float = 1.0,
    resolution: int = 41,
    chunk: int | None = None,
) -> Surface:
    """The loss on a resolution × resolution grid over [−span, span]² around `center`.

    `model` gives only the architecture and activations; its own parameters are not read. `chunk`
    is the number of grid points evaluated per batched pass (None: sized to stay in cache).
    """
    alphas, betas, a, b = _grid(span, resolution)
    values = _batched_loss(model, loss, x, y, center, d1, d2, a, b, chunk)
    values, finite = _finite(values.view(resolution, resolution))
    return Surface(values, alphas, betas, finite)


@torch.no_grad()
def loss_along_line(
    model: MLP,
    loss: SurfaceLoss,
    x: Tensor,
    y: Tensor,
    start: Tensor,
    end: Tensor,
    n: int = 41,
    chunk: int | None = None,
) -> Line:
    """The loss at n evenly spaced points of the segment from `start` to `end`, both included."""
    ts = torch.linspace(0.0, 1.0, n)
    # (1 − t)·start + t·end, not start + t·(end − start): the endpoints are then exactly the
    # given vectors, so the line's ends agree with the loss curve's first and current values.
    zero = torch.zeros_like(start)
    values = _batched_loss(model, loss, x, y, zero, start, end, 1.0 - ts, ts, chunk)
    values, finite = _finite(values)
    return Line(values, ts, finite)


@torch.no_grad()
def loss_surface_naive(
    model: MLP,
    loss: SurfaceLoss,
    x: Tensor,
    y: Tensor,
    center: Tensor,
    d1: Tensor,
    d2: Tensor,
    span: float = 1.0,
    resolution: int = 41,
) -> Surface:
    """Reference: write each grid point's parameters into a model copy and call it. Slow."""
    probe = copy.deepcopy(model)
    criterion = next(t for t in TASKS.values() if t.surface_loss == loss).new_loss()
    target = y.long() if loss == "cross_entropy" else y
    alphas, betas, a, b = _grid(span, resolution)
    values = torch.empty(a.numel())
    for g in range(a.numel()):
        vector_to_parameters(center + a[g] * d1 + b[g] * d2, linear_parameters(probe))
        values[g] = criterion(_forward_from_features(probe, x), target)
    values, finite = _finite(values.view(resolution, resolution))
    return Surface(values, alphas, betas, finite)


def _forward_from_features(model: MLP, x: Tensor) -> Tensor:
    """The model's forward pass from its first nn.Linear on (`x` is already the features)."""
    h = x
    layers = linear_layers(model)
    for i, layer in enumerate(layers[:-1]):
        h = model.activate(i, layer(h))
    out: Tensor = layers[-1](h)
    return out
