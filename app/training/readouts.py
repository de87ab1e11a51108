"""Readouts: what a run shows of itself, read without training (a mixin of the trainer).

Predictions over the plane, each neuron's picture, the layers' weights and gradients.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from app.training.datasets import INPUT_EXTENT, Dataset
from app.training.model import MLP
from app.training.task import TASKS, OutputActivation, Task


@dataclass(frozen=True)
class LayerSnapshot:
    """One nn.Linear's weights and biases, and their gradients from the last backward pass."""

    weights: np.ndarray
    biases: np.ndarray
    weight_grads: np.ndarray | None
    bias_grads: np.ndarray | None


@functools.lru_cache(maxsize=8)
def input_grid(resolution: int) -> torch.Tensor:
    """Grid points over [-extent, extent]², row-major with row 0 at the top (largest x₂).

    Cached (every frame asks for the same two or three): callers must not modify it."""
    axis = torch.linspace(-INPUT_EXTENT, INPUT_EXTENT, resolution)
    x2, x1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    return torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)


def _array(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().numpy().copy()


class Readouts:
    """Reads `model` on `data`'s task; the trainer provides both."""

    model: MLP
    data: Dataset

    input_grid = staticmethod(input_grid)

    @property
    def task(self) -> Task:
        """What the points ask of the network: loss, output activation, accuracy."""
        return TASKS[self.data.task]

    @property
    def loss_name(self) -> str:
        return self.task.loss_name

    @property
    def output_activation(self) -> OutputActivation:
        return self.task.output_activation

    def squash(self, output: torch.Tensor) -> torch.Tensor:
        """The output activation the loss implies: sigmoid, softmax or identity."""
        return self.task.squash(output)

    def layer_snapshots(self) -> list[LayerSnapshot]:
        snapshots = []
        for layer in self.model.layers:
            assert isinstance(layer, nn.Linear)
            snapshots.append(
                LayerSnapshot(
                    layer.weight.detach().numpy().copy(),
                    layer.bias.detach().numpy().copy(),
                    _array(layer.weight.grad),
                    _array(layer.bias.grad),
                )
            )
        return snapshots

    @torch.no_grad()
    def predict(self, points: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden layer's activations and the squashed output at `points` (n, 2)."""
        outputs = self.model.forward_all(points)
        outputs[-1] = self.squash(outputs[-1])
        return outputs

    @torch.no_grad()
    def predict_grid(self, resolution: int) -> np.ndarray:
        """The picture under the data: P(class 1) (binary), the prediction (regression), or
        the winning class's probability (multi-class; see class_grids for each class)."""
        out = self.squash(self.model(input_grid(resolution)))
        if self.task.n_outputs > 1:
            out = out.max(dim=1).values
        return out.reshape(resolution, resolution).numpy()

    @torch.no_grad()
    def class_grids(self, resolution: int) -> np.ndarray:
        """P(class k) over the plane: (classes, res, res)."""
        out = self.squash(self.model(input_grid(resolution)))
        return out.T.reshape(-1, resolution, resolution).numpy()

    @torch.no_grad()
    def predict_curve(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The model along x₁ with x₂ = 0: the fitted curve of a 1-D regression."""
        x1 = torch.linspace(-INPUT_EXTENT, INPUT_EXTENT, n)
        points = torch.stack([x1, torch.zeros(n)], dim=1)
        return x1.numpy(), self.squash(self.model(points))[:, 0].numpy()

    @torch.no_grad()
    def neuron_grids(self, resolution: int) -> list[np.ndarray]:
        """Each layer's neuron outputs over the plane: [layer] → (neurons, res, res)."""
        outputs = self.predict(input_grid(resolution))
        return [o.T.reshape(-1, resolution, resolution).numpy() for o in outputs]

    def prelu_slopes(self) -> list[float | None]:
        """Each hidden layer's learnt PReLU slope, None where the layer is not PReLU."""
        return [
            float(self.model.prelu[str(i)].item()) if name == "prelu" else None
            for i, name in enumerate(self.model.activations)
        ]
