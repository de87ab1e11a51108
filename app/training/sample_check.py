"""One training point by hand: the chain rule for one weight, and a finite-difference check.

Both work on a float64 copy of the model, so the session is never touched and the central
difference is not drowned by float32 rounding: with ε = 1e-6 its truncation error is O(ε²) and
its rounding error about 1e-16/ε, so it agrees with autograd to FINITE_DIFFERENCE_TOLERANCE.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from app.training.model import MLP
from app.training.trainer import TrainingSession

FINITE_DIFFERENCE_EPSILON = 1e-6
# |autograd − finite difference| ≤ this × max(1, |autograd|), in float64.
FINITE_DIFFERENCE_TOLERANCE = 1e-7


@dataclass(frozen=True)
class GradientCheck:
    autograd: float
    finite_difference: float
    epsilon: float

    @property
    def agrees(self) -> bool:
        scale = max(1.0, abs(self.autograd))
        return abs(self.autograd - self.finite_difference) <= FINITE_DIFFERENCE_TOLERANCE * scale


@dataclass(frozen=True)
class ChainRule:
    """∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w for w = layers[layer].weight[out][in], on one sample."""

    dloss_da: float
    da_dz: float
    dz_dw: float
    autograd: float

    @property
    def product(self) -> float:
        return self.dloss_da * self.da_dz * self.dz_dw


def _sample_model(session: TrainingSession, sample: int) -> tuple[MLP, torch.Tensor, torch.Tensor]:
    # The last forward's activations (kept for the activation penalty) are not leaves and
    # cannot be deep-copied; the copy starts without them.
    kept = getattr(session.model, "hidden_outputs", None)
    memo: dict[int, object] = {} if kept is None else {id(kept): []}
    model: MLP = copy.deepcopy(session.model, memo).double()
    # By hand, every weight's ∂L/∂w is defined, frozen or not: the copy tracks all of them.
    model.requires_grad_(True)
    x = session.data.train_x[sample : sample + 1].double()
    y = session.data.train_y[sample : sample + 1]
    return model, x, y.double() if y.is_floating_point() else y


def _data_loss(session: TrainingSession, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # The data loss alone: the chain rule of one sample is the lesson, penalties are not.
    loss: torch.Tensor = session.loss_fn(output, y)
    return loss


def check_weight_gradient(
    session: TrainingSession, sample: int, layer: int, out: int, inp: int
) -> GradientCheck:
    """Autograd's ∂L/∂w for one sample against (L(w + ε) − L(w − ε)) / 2ε."""
    model, x, y = _sample_model(session, sample)
    weight = model.layers[layer].weight
    weight.grad = None
    _data_loss(session, model(x), y).backward()  # type: ignore[no-untyped-call]  # unannotated in torch
    assert weight.grad is not None
    autograd = weight.grad[out, inp].item()
    eps = FINITE_DIFFERENCE_EPSILON
    with torch.no_grad():
        original = weight[out, inp].item()
        weight[out, inp] = original + eps
        above = _data_loss(session, model(x), y).item()
        weight[out, inp] = original - eps
        below = _data_loss(session, model(x), y).item()
        weight[out, inp] = original
    return GradientCheck(autograd, (above - below) / (2 * eps), eps)


def chain_rule(session: TrainingSession, sample: int, layer: int, out: int, inp: int) -> ChainRule:
    """The three factors for one weight of one sample, each read from autograd separately."""
    model, x, y = _sample_model(session, sample)
    captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(index: int):  # type: ignore[no-untyped-def]
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], z: torch.Tensor) -> None:
            z.retain_grad()
            captured[index] = (inputs[0], z)

        return hook

    handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(model.layers)]
    output = model(x)
    for handle in handles:
        handle.remove()
    layer_input, z = captured[layer]
    is_hidden = layer + 1 < len(model.layers)
    # What the layer passes on: the next layer's input (the activation), or the output itself.
    a = captured[layer + 1][0] if is_hidden else z
    if is_hidden:
        a.retain_grad()
    _data_loss(session, output, y).backward()  # type: ignore[no-untyped-call]  # unannotated in torch
    assert a.grad is not None and z.grad is not None
    dloss_da = a.grad[0, out].item()
    if is_hidden:
        # ∂a/∂z of an elementwise activation: its own derivative at z, by autograd.
        z_alone = z.detach()[0, out].clone().requires_grad_(True)
        (da_dz,) = torch.autograd.grad(model.activate(layer, z_alone.view(1, 1)).sum(), z_alone)
        da_dz_value = da_dz.item()
    else:
        da_dz_value = 1.0
    linear = model.layers[layer]
    assert isinstance(linear, nn.Linear) and linear.weight.grad is not None
    weight_grad = linear.weight.grad
    return ChainRule(
        dloss_da, da_dz_value, layer_input[0, inp].item(), weight_grad[out, inp].item()
    )
