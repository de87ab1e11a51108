"""The optimizer's own per-weight state: momentum, Adam's m and v, and the effective step size.

Read from optimizer.state; the effective step size is what turns m into the update.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from app.training.model import MLP


@dataclass(frozen=True)
class WeightState:
    """One weight matrix's optimizer state, [out][in]; None where this optimizer keeps none."""

    momentum: np.ndarray | None = None
    exp_avg: np.ndarray | None = None
    exp_avg_sq: np.ndarray | None = None
    step_size: np.ndarray | None = None


def _array(t: object) -> np.ndarray | None:
    return t.detach().numpy().copy() if isinstance(t, torch.Tensor) else None


def _group_of(optimizer: torch.optim.Optimizer, p: torch.Tensor) -> dict[str, object]:
    return next(g for g in optimizer.param_groups if any(q is p for q in g["params"]))


@torch.no_grad()
def weight_states(optimizer: torch.optim.Optimizer, model: MLP) -> list[WeightState] | None:
    """Per layer, the state of model.layers[i].weight; None for an optimizer with none to show
    (plain SGD) or before its first step."""
    states = []
    for layer in model.layers:
        weight = layer.weight
        assert isinstance(weight, torch.Tensor)
        state = optimizer.state.get(weight, {})
        if not state:
            states.append(WeightState())
            continue
        group = _group_of(optimizer, weight)
        lr, eps = float(group["lr"]), float(group.get("eps", 0.0))  # type: ignore[arg-type]
        if "exp_avg" in state:  # Adam, AdamW
            betas = group["betas"]
            assert isinstance(betas, tuple)
            beta1, beta2 = float(betas[0]), float(betas[1])
            t = float(state["step"])
            m, v = state["exp_avg"], state["exp_avg_sq"]
            # torch.optim.Adam: θ −= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
            step_size = (lr / (1 - beta1**t)) / (v.sqrt() / (1 - beta2**t) ** 0.5 + eps)
            states.append(WeightState(None, _array(m), _array(v), _array(step_size)))
        elif "square_avg" in state:  # RMSprop: θ −= lr · g / (√v + ε)
            v = state["square_avg"]
            step_size = lr / (v.sqrt() + eps)
            states.append(
                WeightState(
                    _array(state.get("momentum_buffer")), None, _array(v), _array(step_size)
                )
            )
        else:  # SGD with momentum
            states.append(WeightState(momentum=_array(state.get("momentum_buffer"))))
    if all(s.momentum is None and s.exp_avg_sq is None for s in states):
        return None
    return states
