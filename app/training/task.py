"""The task (binary, multi-class, regression) and everything that follows from it.

The loss, the output activation, the accuracy, the labels it accepts and the number of outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

TaskName = Literal["binary", "multiclass", "regression"]
# The loss names the batched loss surface (surface.py) computes.
SurfaceLoss = Literal["bce", "mse", "cross_entropy"]
OutputActivation = Literal["sigmoid", "softmax", "identity"]

# Multi-class data are the blobs' three classes: the softmax has this many outputs.
N_CLASSES = 3


def _binary_accuracy(output: Tensor, y: Tensor) -> float:
    return ((output > 0).float() == y).float().mean().item()


def _class_accuracy(output: Tensor, y: Tensor) -> float:
    return (output.argmax(dim=1) == y).float().mean().item()


def _no_accuracy(output: Tensor, y: Tensor) -> float:
    """Regression has no classes to be right about."""
    return math.nan


def _binary_label(label: float) -> str | None:
    if label not in (0.0, 1.0):
        return f"the label {label:g} is not 0 or 1 (binary classification)"
    return None


def _class_label(label: float) -> str | None:
    if label not in range(N_CLASSES):
        return f"the label {label:g} is not a class id 0–{N_CLASSES - 1}"
    return None


def _any_label(label: float) -> str | None:
    return None


def _softmax(output: Tensor) -> Tensor:
    return torch.softmax(output, dim=1)


def _identity(output: Tensor) -> Tensor:
    return output


@dataclass(frozen=True)
class Task:
    """One kind of problem. `squash` turns the model's raw outputs (logits) into what the
    picture shows; the loss takes the raw outputs, as torch's numerically stable losses do."""

    name: TaskName
    loss_name: str  # the torch.nn class
    surface_loss: SurfaceLoss
    output_activation: OutputActivation
    n_outputs: int
    # Targets as class ids (n,) int64 for CrossEntropyLoss, else a float column (n, 1).
    class_ids: bool
    squash: Callable[[Tensor], Tensor]
    _accuracy: Callable[[Tensor, Tensor], float]
    _label_rule: Callable[[float], str | None]

    def new_loss(self) -> nn.Module:
        loss: nn.Module = getattr(nn, self.loss_name)()
        return loss

    def accuracy(self, output: Tensor, y: Tensor) -> float:
        """Share of points classified right (NaN for regression)."""
        return self._accuracy(output, y)

    def label_problem(self, label: float) -> str | None:
        """Why `label` is not a target of this task, or None when it is one."""
        if not math.isfinite(label):
            return f"the label {label} is not a finite number"
        return self._label_rule(label)

    def targets(self, labels: Tensor) -> Tensor:
        """Labels (n,) shaped as the loss wants them."""
        if self.class_ids:
            return labels.to(torch.int64).reshape(-1)
        return labels.to(torch.float32).reshape(-1, 1)


TASKS: dict[TaskName, Task] = {
    "binary": Task(
        "binary",
        "BCEWithLogitsLoss",
        "bce",
        "sigmoid",
        1,
        False,
        torch.sigmoid,
        _binary_accuracy,
        _binary_label,
    ),
    "multiclass": Task(
        "multiclass",
        "CrossEntropyLoss",
        "cross_entropy",
        "softmax",
        N_CLASSES,
        True,
        _softmax,
        _class_accuracy,
        _class_label,
    ),
    "regression": Task(
        "regression", "MSELoss", "mse", "identity", 1, False, _identity, _no_accuracy, _any_label
    ),
}
