"""The gradient monitor: every step's per-layer gradient and update figures, sampled cheaply.

On sampled steps the monitor copies the layers' weight gradients before optimizer.step() and
the weights' change after it (`torch._foreach_*` ops: one dispatch each, no Python loop over
elements); the gradient's L2 norm, L1 norm and max |g| and ‖Δw‖ are taken for several sampled
steps at once, in NumPy, and summed; `collect()` turns them into one frame's figures.
Only nn.Linear weight matrices count ("layer i" = model.layers[i].weight); biases are left out,
as TensorBoard-style layer health plots usually do, since their gradient is a different scale.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from app.training.model import MLP


@dataclass(frozen=True)
class GradientStats:
    """One frame's figures per layer, over the `steps` optimizer steps since the last frame:
    the mean over the steps of the gradient norm, of mean |grad| and of ‖Δw‖/‖w‖ (‖w‖ at the
    frame's end), and the largest |grad| of any step."""

    steps: int
    grad_norm: np.ndarray
    mean_abs_grad: np.ndarray
    max_abs_grad: np.ndarray
    update_ratio: np.ndarray


# Measuring a step costs ~50 µs in a running loop (copies, and its share of the norms) against
# a ~250 µs step: every step would slow training by a fifth. The first step after each collect
# (so every manual Step) and then every 32nd are sampled (4 of a 30 ms frame's ~120 steps); a
# frame shows their mean, an unbiased sample of its steps.
SAMPLE_EVERY_STEPS = 32
# A sampled step only copies its gradients and weights into a slot (three foreach calls); the
# norms are taken for all filled slots at once, when they are full or at collect().
SAMPLE_SLOTS = 8


class GradientMonitor:
    """Averages sampled steps' per-layer gradient and update figures; `collect()` per frame."""

    def __init__(self, model: MLP) -> None:
        self.model = model
        self.weights = [linear_layer(layer).weight for layer in model.layers]
        self.sizes = np.array([float(w.numel()) for w in self.weights])
        self._zeros = [torch.zeros_like(w) for w in self.weights]
        # Per slot, one row of every layer's weights end to end: the raw gradients, and the
        # weights before the step (then minus those after). `_starts`: where each layer begins.
        ends = np.cumsum([w.numel() for w in self.weights])
        self._starts = np.concatenate([[0], ends[:-1]])
        self._grad_rows = torch.zeros(SAMPLE_SLOTS, int(ends[-1]))
        self._delta_rows = torch.zeros(SAMPLE_SLOTS, int(ends[-1]))
        self._grads = [self._layer_views(row) for row in self._grad_rows]
        self._deltas = [self._layer_views(row) for row in self._delta_rows]
        self._filled = 0
        self._sampling = False
        n = len(self.weights)
        # Rows: gradient norm, L1 norm, ‖Δw‖ (summed over steps); max |g| (max over steps).
        self._sums = np.zeros((3, n))
        self._max = np.zeros(n)
        self.steps = 0
        self._since_collect = 0

    def _layer_views(self, row: torch.Tensor) -> list[torch.Tensor]:
        return [
            row[start : start + w.numel()].view(w.shape)
            for start, w in zip(self._starts.tolist(), self.weights, strict=True)
        ]

    def before_step(self) -> None:
        """After backward, before clipping and optimizer.step(): the raw gradients."""
        sampled = self._since_collect % SAMPLE_EVERY_STEPS == 0
        self._since_collect += 1
        if not sampled:
            return
        grads = [
            w.grad if w.grad is not None else z
            for w, z in zip(self.weights, self._zeros, strict=True)
        ]
        # Without autograd: copying a parameter would otherwise record a graph.
        with torch.no_grad():
            torch._foreach_copy_(self._grads[self._filled], grads)
            torch._foreach_copy_(self._deltas[self._filled], self.weights)
        self._sampling = True

    def after_step(self) -> None:
        """After optimizer.step(): the update (its sign does not matter to its norm)."""
        if not self._sampling:
            return
        self._sampling = False
        with torch.no_grad():
            torch._foreach_sub_(self._deltas[self._filled], self.weights)
        self._filled += 1
        self.steps += 1
        if self._filled == SAMPLE_SLOTS:
            self._reduce_slots()

    def _reduce_slots(self) -> None:
        """The filled slots' per-layer norms, in NumPy over the rows: torch's foreach norms
        loop over the tensors on CPU, ~5 µs each, where these are a dozen calls in all."""
        k = self._filled
        if k == 0:
            return
        g = self._grad_rows[:k].numpy().astype(np.float64)
        d = self._delta_rows[:k].numpy().astype(np.float64)
        magnitude = np.abs(g)
        by_layer = functools.partial(np.add.reduceat, indices=self._starts, axis=1)
        self._sums[0] += np.sqrt(by_layer(g * g)).sum(axis=0)
        self._sums[1] += by_layer(magnitude).sum(axis=0)
        self._sums[2] += np.sqrt(by_layer(d * d)).sum(axis=0)
        largest = np.maximum.reduceat(magnitude, self._starts, axis=1).max(axis=0)
        np.maximum(self._max, largest, out=self._max)
        self._filled = 0

    @torch.no_grad()
    def collect(self) -> GradientStats | None:
        """The figures since the last collect, then start afresh; None if no step was taken."""
        self._reduce_slots()
        if self.steps == 0:
            return None
        means = self._sums / self.steps
        weight_norms = torch.stack(torch._foreach_norm(self.weights)).numpy()
        stats = GradientStats(
            steps=self.steps,
            grad_norm=means[0],
            mean_abs_grad=means[1] / self.sizes,
            max_abs_grad=self._max.copy(),
            update_ratio=means[2] / np.maximum(weight_norms, 1e-30),
        )
        self._sums[:] = 0.0
        self._max[:] = 0.0
        self.steps = 0
        self._since_collect = 0
        return stats


def linear_layer(layer: nn.Module) -> nn.Linear:
    assert isinstance(layer, nn.Linear)
    return layer
