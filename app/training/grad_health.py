"""Gradient health per layer: what looks wrong in a frame's figures and in the hidden units.

The gradient figures come from grad_monitor.py; the hidden units are judged over all training
points, and each layer gets its distribution bands.
Everything here is computed once per frame from the model.
Only nn.Linear weight matrices count ("layer i" = model.layers[i].weight); biases are left out,
as TensorBoard-style layer health plots usually do, since their gradient is a different scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from app.training.grad_monitor import GradientStats, linear_layer
from app.training.model import MLP

FlagKind = Literal["vanishing", "exploding", "dead_relu", "saturated", "large_update"]

# A layer's mean |grad| this many times below a later layer's: the gradient has shrunk by four
# orders of magnitude on its way back. Measured here (default init, circle, seeds 0–3): a 6-layer
# sigmoid net of 4 or 8 units sits at 1e-6 to 7e-6 between its first and best later layer; the same
# nets switched to ReLU at 4e-3 to 2e-1. (A layer with no gradient at all is dead, not vanishing.)
VANISHING_RATIO = 1e-4
# A gradient norm this large, or this many times a later layer's, makes steps that overshoot.
EXPLODING_GRAD_NORM = 1e3
EXPLODING_RATIO = 1e3
# ‖Δw‖/‖w‖ around 1e-3 is the usual healthy figure (Karpathy's rule of thumb); above 0.1 each
# step rewrites a tenth of the weights.
LARGE_UPDATE_RATIO = 0.1
# A tanh unit is saturated where |a| > 0.99 (its slope 1 − a² < 0.02); a sigmoid unit where
# a < 0.01 or a > 0.99 (slope < 0.01, a 25th of its best). A unit counts as saturated when that
# holds for this share of the training points.
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01
SATURATED_POINT_FRACTION = 0.9
# TensorBoard's distribution bands: min, ±1.5σ, ±1σ, ±0.5σ of a normal, median, max.
PERCENTILES = (0.0, 0.0668, 0.1587, 0.3085, 0.5, 0.6915, 0.8413, 0.9332, 1.0)
_PERCENTILE_ARRAY = np.array(PERCENTILES)


@dataclass(frozen=True)
class UnitHealth:
    """Per hidden layer over all training points: the share of dead ReLU units and of saturated
    tanh/sigmoid units (None where the activation cannot be dead / saturated)."""

    dead_fraction: list[float | None]
    saturated_fraction: list[float | None]
    dead_units: list[int]
    saturated_units: list[int]


def dead_relu_units(activations: torch.Tensor) -> torch.Tensor:
    """(points, units) ReLU outputs → a bool per unit: 0 at every point."""
    return (activations <= 0).all(dim=0)


def saturated_units(activations: torch.Tensor, activation: str) -> torch.Tensor:
    """(points, units) tanh or sigmoid outputs → a bool per unit: flat at most points."""
    if activation == "tanh":
        flat = activations.abs() > TANH_SATURATION
    else:
        flat = (activations < SIGMOID_SATURATION) | (activations > 1 - SIGMOID_SATURATION)
    return flat.float().mean(dim=0) >= SATURATED_POINT_FRACTION


def unit_health(hidden: list[torch.Tensor], activations: list[str]) -> UnitHealth:
    dead: list[float | None] = []
    saturated: list[float | None] = []
    dead_counts, saturated_counts = [], []
    for h, name in zip(hidden, activations, strict=True):
        n_dead = int(dead_relu_units(h).sum()) if name == "relu" else 0
        n_flat = int(saturated_units(h, name).sum()) if name in ("tanh", "sigmoid") else 0
        units = h.shape[1]
        dead.append(n_dead / units if name == "relu" else None)
        saturated.append(n_flat / units if name in ("tanh", "sigmoid") else None)
        dead_counts.append(n_dead)
        saturated_counts.append(n_flat)
    return UnitHealth(dead, saturated, dead_counts, saturated_counts)


def percentiles(values: torch.Tensor) -> list[float]:
    """TensorBoard's distribution bands of all of `values` (PERCENTILES)."""
    flat = np.sort(values.detach().reshape(-1).double().numpy())
    if flat.size == 0:
        return [math.nan] * len(PERCENTILES)
    # torch.quantile's linear interpolation, on a sorted copy: one sort instead of a quantile
    # call per band set, ~4x cheaper for these small tensors (nine sets per frame).
    position = _PERCENTILE_ARRAY * (flat.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, flat.size - 1)
    values_at = flat[low] + (flat[high] - flat[low]) * (position - low)
    return [float(v) for v in values_at]


@dataclass(frozen=True)
class LayerDistribution:
    """Percentile bands of one layer's weights, latest weight gradients and activations (its
    outputs over the training points; the output layer's are the logits)."""

    weights: list[float]
    gradients: list[float] | None
    activations: list[float]


@dataclass(frozen=True)
class HealthFlag:
    kind: FlagKind
    layer: int
    message: str


@dataclass(frozen=True)
class HealthReport:
    """What one frame shows about the network's health."""

    units: UnitHealth
    distributions: list[LayerDistribution]
    flags: list[HealthFlag]


@torch.no_grad()
def health_report(
    model: MLP, train_x: torch.Tensor, gradients: GradientStats | None
) -> HealthReport:
    """Unit health, distributions and flags for the model as it is now (once per frame)."""
    outputs = model.forward_all(train_x)
    hidden = outputs[:-1]
    units = unit_health(hidden, model.activations)
    distributions = [
        LayerDistribution(
            weights=percentiles(layer.weight),
            gradients=None if layer.weight.grad is None else percentiles(layer.weight.grad),
            activations=percentiles(out),
        )
        for layer, out in zip((linear_layer(m) for m in model.layers), outputs, strict=True)
    ]
    flags = gradient_flags(gradients) + unit_flags(units, model.activations)
    return HealthReport(units, distributions, flags)


def _name(layer: int) -> str:
    return f"layers[{layer}]"


def gradient_flags(
    stats: GradientStats | None, names: Sequence[str] | None = None
) -> list[HealthFlag]:
    """Vanishing, exploding and large-update flags, each saying what it measured. `names`: the
    layers' own names (conv1, …) where they are not an MLP's `layers[i]`."""
    if stats is None:
        return []

    def _name(layer: int) -> str:
        return names[layer] if names is not None else f"layers[{layer}]"

    flags: list[HealthFlag] = []
    mean = stats.mean_abs_grad
    n = len(mean)
    for i in range(n):
        later = mean[i + 1 :]
        if len(later) and mean[i] > 0 and np.isfinite(later).all() and later.max() > 0:
            j = i + 1 + int(np.argmax(later))
            ratio = mean[i] / mean[j]
            if ratio < VANISHING_RATIO:
                flags.append(
                    HealthFlag(
                        "vanishing",
                        i,
                        f"vanishing gradient: mean |∂L/∂w| of {_name(i)} is {mean[i]:.2g}, "
                        f"{1 / ratio:.2g}× smaller than {_name(j)}'s {mean[j]:.2g}; "
                        "its weights barely learn (try ReLU or a better init)",
                    )
                )
            elif ratio > EXPLODING_RATIO:
                flags.append(
                    HealthFlag(
                        "exploding",
                        i,
                        f"exploding gradient: mean |∂L/∂w| of {_name(i)} is {ratio:.2g}× "
                        f"{_name(j)}'s; it grows on its way back",
                    )
                )
        if stats.grad_norm[i] > EXPLODING_GRAD_NORM:
            flags.append(
                HealthFlag(
                    "exploding",
                    i,
                    f"exploding gradient: ‖∂L/∂w‖ of {_name(i)} is {stats.grad_norm[i]:.3g} "
                    f"(> {EXPLODING_GRAD_NORM:g}); lower the learning rate or clip",
                )
            )
        if stats.update_ratio[i] > LARGE_UPDATE_RATIO:
            flags.append(
                HealthFlag(
                    "large_update",
                    i,
                    f"large updates: each step changes {_name(i)} by "
                    f"{stats.update_ratio[i]:.2g} of its size (‖Δw‖/‖w‖; ~1e-3 is healthy); "
                    "the learning rate may overshoot",
                )
            )
    return flags


def unit_flags(units: UnitHealth, activations: list[str]) -> list[HealthFlag]:
    flags: list[HealthFlag] = []
    for i, name in enumerate(activations):
        dead, flat = units.dead_fraction[i], units.saturated_fraction[i]
        # One dead or saturated unit is already worth a word: it has stopped learning.
        if dead is not None and units.dead_units[i]:
            flags.append(
                HealthFlag(
                    "dead_relu",
                    i,
                    f"dead ReLUs: {units.dead_units[i]} of hidden layer {i + 1}'s units output 0 "
                    "for every training point, so no gradient reaches their weights",
                )
            )
        if flat is not None and units.saturated_units[i]:
            flags.append(
                HealthFlag(
                    "saturated",
                    i,
                    f"saturated {name}: {units.saturated_units[i]} of hidden layer {i + 1}'s "
                    f"units sit on a flat part for ≥ {SATURATED_POINT_FRACTION:.0%} of the "
                    "training points, where their slope is almost 0",
                )
            )
    return flags
