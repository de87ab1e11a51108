"""Each run's loss on its own mini-batch — the task's mean loss plus its penalties — for K runs
at once, over padded batches whose real length differs per run near an epoch's end."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from app.training.stacked.settings import RunSettings


def _elementwise(loss: str, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The task's loss per element, [K, batch, outputs] ([K, batch] for class ids): what its
    `mean` reduction averages."""
    if loss == "CrossEntropyLoss":
        k, b, c = output.shape
        flat = F.cross_entropy(output.reshape(k * b, c), y.reshape(k * b), reduction="none")
        return flat.view(k, b)
    if loss == "BCEWithLogitsLoss":
        return F.binary_cross_entropy_with_logits(output, y, reduction="none")
    if loss == "MSELoss":
        return (output - y).pow(2)
    raise ValueError(f"no stacked form of {loss}")


def data_losses(
    loss: str,
    output: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    lengths: torch.Tensor,
) -> torch.Tensor:
    """Each run's mean loss over its real samples, [K]. `mask` (bool [K, batch]) marks them;
    None when every batch is full."""
    values = _elementwise(loss, output, y)
    if mask is None:
        return values.flatten(1).mean(1)
    per_sample = values.shape[2] if values.dim() == 3 else 1
    if values.dim() == 3:
        mask = mask.unsqueeze(2)
    # where, not a multiply: a padded sample's loss is never mixed in, even if not finite.
    kept = torch.where(mask, values, 0.0)
    return kept.flatten(1).sum(1) / (lengths * per_sample)


def penalties(
    settings: RunSettings,
    absolute_sums: torch.Tensor | None,
    hidden: list[torch.Tensor],
    mask: torch.Tensor | None,
    lengths: torch.Tensor,
) -> torch.Tensor | None:
    """L1 on the parameters plus the activation penalty (per sample of the run's batch), [K];
    None when no run has either."""
    total: torch.Tensor | None = None
    if absolute_sums is not None:
        total = settings.l1.to(absolute_sums.dtype) * absolute_sums
    for strength, active, square in (
        (settings.activation_l1, settings.any_activation_l1, False),
        (settings.activation_l2, settings.any_activation_l2, True),
    ):
        if not active:
            continue
        sums = [_masked_sum(h.pow(2) if square else h.abs(), mask) for h in hidden]
        term = strength.to(hidden[0].dtype) * torch.stack(sums).sum(0) / lengths
        total = term if total is None else total + term
    return total


def _masked_sum(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is not None:
        values = torch.where(mask.unsqueeze(2), values, 0.0)
    return values.flatten(1).sum(1)
