"""Every run's own hyper-parameters as tensors with one row per run, read from its settings.

torch.optim takes one value per parameter group and steps one optimizer at a time; the group
steps K runs' rows with one op each, so each knob becomes a [K] tensor (float64 where torch
computes a coefficient in Python doubles before casting it, as the bias corrections).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch

from app.training.config import TrainingConfig


def _column(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@dataclass(frozen=True)
class RunSettings:
    """float64 columns, as the Python floats torch reads them; `f32` holds float32 copies
    (and the coefficients torch computes in double before casting) so a step converts none."""

    momentum: torch.Tensor
    nesterov: torch.Tensor  # bool
    weight_decay: torch.Tensor
    beta1: torch.Tensor
    beta2: torch.Tensor
    alpha: torch.Tensor
    eps: torch.Tensor
    l1: torch.Tensor
    activation_l1: torch.Tensor  # the activation penalty's strength where its kind is L1, else 0
    activation_l2: torch.Tensor
    clip_norm: torch.Tensor  # 0: no clipping
    # Which of the switches are on for any run: a term no run uses costs nothing.
    any_momentum: bool
    any_weight_decay: bool
    any_l1: bool
    any_activation_l1: bool
    any_activation_l2: bool
    any_clip: bool
    f32: dict[str, torch.Tensor]


def run_settings(trainings: Sequence[TrainingConfig]) -> RunSettings:
    def strength(t: TrainingConfig, kind: str) -> float:
        return t.activation_penalty_strength if t.activation_penalty == kind else 0.0

    settings = RunSettings(
        momentum=_column([t.momentum for t in trainings]),
        # As optimizer_options: torch refuses Nesterov without momentum: plain SGD then.
        nesterov=torch.tensor([t.nesterov and t.momentum > 0 for t in trainings]),
        weight_decay=_column([t.weight_decay for t in trainings]),
        beta1=_column([t.beta1 for t in trainings]),
        beta2=_column([t.beta2 for t in trainings]),
        alpha=_column([t.alpha for t in trainings]),
        # Adagrad keeps torch's own eps (1e-10), not the one the others share.
        eps=_column([1e-10 if t.optimizer == "adagrad" else t.eps for t in trainings]),
        l1=_column([t.l1 for t in trainings]),
        activation_l1=_column([strength(t, "l1") for t in trainings]),
        activation_l2=_column([strength(t, "l2") for t in trainings]),
        clip_norm=_column([t.grad_clip_norm for t in trainings]),
        any_momentum=False,
        any_weight_decay=False,
        any_l1=False,
        any_activation_l1=False,
        any_activation_l2=False,
        any_clip=False,
        f32={},
    )
    return derived(settings)


def with_row(settings: RunSettings, k: int, run: RunSettings) -> RunSettings:
    """`settings` with run k's values from `run` (that run's alone): one row written, not K
    read again, as a learner's knob changes every few seconds."""
    for field in fields(RunSettings):
        value = getattr(settings, field.name)
        if isinstance(value, torch.Tensor):
            value[k] = getattr(run, field.name)[0]
    return derived(settings)


def derived(s: RunSettings) -> RunSettings:
    """The switches and the float32 copies, from the columns."""
    f32 = {
        name: getattr(s, name).float()
        for name in ("momentum", "weight_decay", "beta1", "beta2", "alpha", "eps", "clip_norm")
    }
    for name in ("beta1", "beta2", "alpha"):
        f32[f"1-{name}"] = (1 - getattr(s, name)).float()
    return replace(
        s,
        any_momentum=bool((s.momentum > 0).any()),
        any_weight_decay=bool((s.weight_decay > 0).any()),
        any_l1=bool((s.l1 > 0).any()),
        any_activation_l1=bool((s.activation_l1 > 0).any()),
        any_activation_l2=bool((s.activation_l2 > 0).any()),
        any_clip=bool((s.clip_norm > 0).any()),
        f32=f32,
    )


def rows(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[K] values shaped to broadcast over `like`'s rows ([K, …]), in `like`'s dtype (masks
    stay bool)."""
    if values.dtype != torch.bool and values.dtype != like.dtype:
        values = values.to(like.dtype)
    return values.view(-1, *([1] * (like.dim() - 1)))
