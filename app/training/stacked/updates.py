"""The optimizers' update rules over stacked rows, each run with its own hyper-parameters.

torch.optim applies one set of hyper-parameters per parameter group and steps one optimizer
at a time; here every knob is a per-row tensor. Each rule follows the eager path the trainer
uses, op for op: torch/optim/sgd.py, rmsprop.py and adagrad.py's single-tensor loops, and the
fused CPU Adam/AdamW kernel (aten FusedAdamKernel.cpp: moments as m·β₁ + g·(1−β₁), bias
corrections in double). A row whose parameter has no gradient in its run (a frozen layer, an
unused PReLU slope) keeps its value and its state, as torch skips a parameter whose .grad is
None; its step count does not move either. No op mixes two rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from app.training.stacked.settings import RunSettings, rows

# The state tensors each optimizer keeps per parameter (torch's names), besides `step`.
STATE_NAMES: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum_buffer",),
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
    "rmsprop": ("square_avg", "momentum_buffer"),
    "adagrad": ("sum",),
}


@dataclass
class SlotState:
    """One parameter's optimizer state over the runs. `present[name]` (bool [K]) says whether
    the run's torch optimizer holds that entry (torch creates some lazily, some never), and
    `started` whether it holds any state for the parameter."""

    tensors: dict[str, torch.Tensor]
    step: torch.Tensor  # float32 [K], as torch's 0-d step tensors
    present: dict[str, torch.Tensor]
    started: torch.Tensor
    # Once every run has state for the parameter, a burst has no flags left to set.
    all_started: bool = False


@dataclass(frozen=True)
class StepInputs:
    """What every rule reads for one parameter: the settings, the step's learning rates
    (float64 [K], and as float32 shaped to the parameter's rows) and which rows have a
    gradient (bool [K]); `all_rows` when every row has one."""

    settings: RunSettings
    lr: torch.Tensor
    lr_rows: torch.Tensor
    has_grad: torch.Tensor
    all_rows: bool


def _keep(new: torch.Tensor, old: torch.Tensor, inputs: StepInputs) -> torch.Tensor:
    """`new` in the rows that have a gradient, `old` elsewhere."""
    return new if inputs.all_rows else torch.where(rows(inputs.has_grad, old), new, old)


def _decayed(p: torch.Tensor, g: torch.Tensor, s: RunSettings) -> torch.Tensor:
    """grad.add(param, alpha=weight_decay): L2 coupled to the gradient."""
    return g + rows(s.f32["weight_decay"], p) * p if s.any_weight_decay else g


def _count_steps(state: SlotState, inputs: StepInputs, steps: int) -> torch.Tensor:
    if inputs.all_rows:
        state.step += steps
    else:
        state.step += steps * inputs.has_grad.to(state.step.dtype)
    return state.step


def _descend(p: torch.Tensor, d: torch.Tensor, inputs: StepInputs) -> None:
    """param.add_(d, alpha=-lr), row by row, as p + (−1)·(lr·d): the op the group's plain
    SGD path applies to all rows at once, so a row's rounding never depends on whether its
    group mates use momentum (or another optimizer) and take this path."""
    if inputs.all_rows:
        p.addcmul_(inputs.lr_rows, d, value=-1)
    else:
        p.copy_(_keep(torch.addcmul(p, inputs.lr_rows, d, value=-1), p, inputs))


def sgd(p: torch.Tensor, g: torch.Tensor, state: SlotState, inputs: StepInputs) -> None:
    s = inputs.settings
    d = _decayed(p, g, s)
    if s.any_momentum:
        m = rows(s.f32["momentum"], p)
        buf, has = state.tensors["momentum_buffer"], state.present["momentum_buffer"]
        # torch starts the buffer as a copy of the gradient, then buf·m + g.
        new = torch.where(rows(has, p), buf * m + d, d)
        on = (s.momentum > 0) & inputs.has_grad
        buf.copy_(torch.where(rows(on, p), new, buf))
        has |= on
        ahead = torch.where(rows(s.nesterov, p), d + m * new, new)
        d = torch.where(rows(s.momentum > 0, p), ahead, d)
    _descend(p, d, inputs)


def adam(p: torch.Tensor, g: torch.Tensor, state: SlotState, inputs: StepInputs) -> None:
    _adam(p, g, state, inputs, decoupled=False)


def adamw(p: torch.Tensor, g: torch.Tensor, state: SlotState, inputs: StepInputs) -> None:
    _adam(p, g, state, inputs, decoupled=True)


def _adam(
    p: torch.Tensor, g: torch.Tensor, state: SlotState, inputs: StepInputs, decoupled: bool
) -> None:
    s, lr = inputs.settings, inputs.lr
    # A row without a gradient may sit at step 0: keep its (unused) corrections finite.
    t = _count_steps(state, inputs, 1).to(torch.float64).clamp(min=1)
    if s.any_weight_decay:
        if decoupled:
            p_decayed = p * rows(1 - lr * s.weight_decay, p)
        else:
            g = g + p * rows(s.f32["weight_decay"], p)
            p_decayed = p
    else:
        p_decayed = p
    m, v = state.tensors["exp_avg"], state.tensors["exp_avg_sq"]
    f = s.f32
    new_m = m * rows(f["beta1"], p) + g * rows(f["1-beta1"], p)
    new_v = v * rows(f["beta2"], p) + g * g * rows(f["1-beta2"], p)
    step_size = lr / (1 - s.beta1.pow(t))
    denom = new_v.sqrt() / rows((1 - s.beta2.pow(t)).sqrt(), p) + rows(f["eps"], p)
    new_p = p_decayed - rows(step_size, p) * new_m / denom
    m.copy_(_keep(new_m, m, inputs))
    v.copy_(_keep(new_v, v, inputs))
    p.copy_(_keep(new_p, p, inputs))


def rmsprop(p: torch.Tensor, g: torch.Tensor, state: SlotState, inputs: StepInputs) -> None:
    s, f = inputs.settings, inputs.settings.f32
    g = _decayed(p, g, s)
    sq = state.tensors["square_avg"]
    new_sq = sq * rows(f["alpha"], p) + rows(f["1-alpha"], p) * g * g
    avg = new_sq.sqrt() + rows(f["eps"], p)
    sq.copy_(_keep(new_sq, sq, inputs))
    if s.any_momentum:
        buf = state.tensors["momentum_buffer"]
        new_buf = buf * rows(f["momentum"], p) + g / avg
        on = s.momentum > 0
        buf.copy_(torch.where(rows(on & inputs.has_grad, p), new_buf, buf))
        d = torch.where(rows(on, p), new_buf, g / avg)
    else:
        d = g / avg
    _descend(p, d, inputs)


def adagrad(p: torch.Tensor, g: torch.Tensor, state: SlotState, inputs: StepInputs) -> None:
    s = inputs.settings
    g = _decayed(p, g, s)
    total = state.tensors["sum"]
    new_total = total + g * g
    std = new_total.sqrt() + rows(s.f32["eps"], p)
    # lr_decay is 0: the rate torch divides by (1 + (step − 1)·lr_decay) stays lr.
    total.copy_(_keep(new_total, total, inputs))
    _descend(p, g / std, inputs)


RULES: dict[str, Callable[[torch.Tensor, torch.Tensor, SlotState, StepInputs], None]] = {
    "sgd": sgd,
    "adam": adam,
    "adamw": adamw,
    "rmsprop": rmsprop,
    "adagrad": adagrad,
}


def clip_per_run(
    grads: list[torch.Tensor], has_grad: list[torch.Tensor], clip_norm: torch.Tensor
) -> torch.Tensor:
    """clip_grad_norm_ per run, in place: each run's own global norm over the gradients it
    has (frozen rows left out), never a norm across runs; returns the norms [K]."""
    norms = [
        torch.where(mask, g.flatten(1).norm(dim=1), 0.0)
        for g, mask in zip(grads, has_grad, strict=True)
    ]
    total: torch.Tensor = torch.stack(norms, dim=1).norm(dim=1)
    max_norm = clip_norm.to(total.dtype)
    coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    coefficient = torch.where(max_norm > 0, coefficient, 1.0)
    for g in grads:
        g.mul_(rows(coefficient, g))
    return total


def finish_burst(kind: str, state: SlotState, inputs: StepInputs, steps: int) -> None:
    """After a burst's steps: the step counts of the rules that do not read them, and the
    state torch would have created by now (settings do not change within a burst, so once
    per burst is exact)."""
    if kind not in ("adam", "adamw"):  # Adam counts as it goes: its corrections read it
        _count_steps(state, inputs, steps)
    if state.all_started:
        return
    new = inputs.has_grad & ~state.started
    for name in STATE_NAMES[kind]:
        if kind == "rmsprop" and name == "momentum_buffer":
            # Created with the state, and only if momentum was on then.
            state.present[name] |= new & (inputs.settings.momentum > 0)
        elif kind != "sgd":  # SGD's buffer is marked as its steps make it
            state.present[name] |= inputs.has_grad
    state.started |= inputs.has_grad
    state.all_started = bool(state.started.all())
