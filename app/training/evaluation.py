"""Evaluation: losses and accuracies on all points (a mixin of the trainer).

Also the regularisers' share of the loss, as the loss chart shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from app.training.config import LabConfig
from app.training.datasets import Dataset
from app.training.model import MLP
from app.training.penalties import activation_penalty, implied_l2_penalty, l1_penalty
from app.training.task import TASKS


@dataclass(frozen=True)
class Evaluation:
    """Data losses (no penalty) on all points; `train_penalty` is the regulariser's share on
    the training set (L1, activation penalty, and the L2 that weight decay stands for)."""

    train_loss: float
    test_loss: float
    train_accuracy: float
    test_accuracy: float
    train_penalty: float = 0.0


class Evaluator:
    """Scores `model` on `data` with `loss_fn` and the penalties of `config`."""

    config: LabConfig
    model: MLP
    data: Dataset
    loss_fn: nn.Module

    def penalty(self, hidden: list[torch.Tensor], batch_size: int) -> torch.Tensor | float:
        """L1 on every parameter plus the activation penalty; 0.0 (no term) when both are off."""
        t = self.config.training
        total: torch.Tensor | float = 0.0
        if t.l1 > 0:
            total = total + l1_penalty(self.model, t.l1)
        if t.activation_penalty != "none" and t.activation_penalty_strength > 0:
            total = total + activation_penalty(
                hidden, t.activation_penalty, t.activation_penalty_strength, batch_size
            )
        return total

    def accuracy(self, output: torch.Tensor, y: torch.Tensor) -> float:
        """Share of points classified right; NaN for regression (no classes to be right about)."""
        return TASKS[self.data.task].accuracy(output, y)

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        d = self.data

        def loss_and_accuracy(output: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
            if len(y) == 0:
                return math.nan, math.nan
            return self.loss_fn(output, y).item(), self.accuracy(output, y)

        # One forward over the training points gives their loss and the penalty's activations.
        *hidden, train_output = self.model.forward_all(d.train_x)
        train_loss, train_acc = loss_and_accuracy(train_output, d.train_y)
        test_loss, test_acc = loss_and_accuracy(self.model(d.test_x), d.test_y)
        return Evaluation(train_loss, test_loss, train_acc, test_acc, self.train_penalty(hidden))

    @torch.no_grad()
    def training_loss(self) -> float:
        """The data loss on all training points (no penalty), as the loss chart shows it."""
        return float(self.loss_fn(self.model(self.data.train_x), self.data.train_y).item())

    @torch.no_grad()
    def train_penalty(self, hidden: list[torch.Tensor]) -> float:
        """The regulariser on the whole training set (`hidden`: its hidden activations), as
        the chart shows it beside the loss."""
        t = self.config.training
        penalty = self.penalty(hidden, len(self.data.train_x))
        total = float(penalty)
        if t.weight_decay > 0 and t.optimizer != "adamw":
            # weight_decay=λ adds λθ to the gradient: the gradient of λ/2·‖θ‖². AdamW's decay is
            # decoupled from the loss, so it has no loss term to show.
            total += implied_l2_penalty(self.model, t.weight_decay)
        return total
