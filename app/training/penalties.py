"""Regularisation terms added to the loss, written the way the tutorial writes them."""

from __future__ import annotations

import torch
from torch import nn

from app.training.config import ActivationPenaltyName


def l1_penalty(model: nn.Module, strength: float) -> torch.Tensor:
    """λ·Σ|θ| over every parameter (biases too, as torch's weight_decay also covers them)."""
    return strength * sum(p.abs().sum() for p in model.parameters())  # type: ignore[return-value]


def activation_penalty(
    hidden: list[torch.Tensor], kind: ActivationPenaltyName, strength: float, batch_size: int
) -> torch.Tensor:
    """λ·Σ|h| (L1) or λ·Σh² (L2) over every hidden activation, per sample (÷ batch size).

    Dividing by the batch keeps the penalty's weight against the mean data loss the same
    whatever the batch size, as Keras' activity_regularizer does.
    """
    if kind == "l1":
        total = sum(h.abs().sum() for h in hidden)
    else:
        total = sum(h.pow(2).sum() for h in hidden)
    return strength * total / batch_size  # type: ignore[return-value]


def implied_l2_penalty(model: nn.Module, weight_decay: float) -> float:
    """λ/2·‖θ‖²: the loss term whose gradient is the λθ that weight_decay adds to the gradient."""
    with torch.no_grad():
        return weight_decay / 2 * sum(float(p.pow(2).sum()) for p in model.parameters())
