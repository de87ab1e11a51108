"""Build torch.optim optimizers by name, so the optimizer can be swapped while the weights stay."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from app.training.config import OptimizerName


def build_optimizer(
    name: OptimizerName,
    parameters: Iterable[torch.nn.Parameter],
    learning_rate: float,
    momentum: float,
) -> torch.optim.Optimizer:
    params = list(parameters)
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, momentum=momentum)
    if name == "adam":
        # Adam's β₁ plays momentum's role; the SGD momentum knob does not apply to it.
        return torch.optim.Adam(params, lr=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; expected 'sgd' or 'adam'")


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def set_momentum(optimizer: torch.optim.Optimizer, momentum: float) -> None:
    for group in optimizer.param_groups:
        if "momentum" in group:
            group["momentum"] = momentum
