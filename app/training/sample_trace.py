"""One training point through the network: every neuron's value and gradient, micrograd-style.

Like the chain rule and the finite-difference check (sample_check), this runs on a float64 copy
of the model with the data loss alone, so the numbers shown beside the chain rule are the very
ones its factors are read from, and the session is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from app.training.errors import SettingError
from app.training.sample_check import _data_loss, _sample_model
from app.training.trainer import TrainingSession


@dataclass(frozen=True)
class LayerTrace:
    """One nn.Linear on one sample: z = W·in + b, a = activation(z) (a = z on the output)."""

    pre_activations: list[float]
    activations: list[float]
    pre_activation_grads: list[float]
    activation_grads: list[float]


@dataclass(frozen=True)
class SampleTrace:
    sample: int
    features: list[float]
    feature_grads: list[float]
    target: list[float]
    loss: float
    layers: list[LayerTrace]


def _row(tensor: torch.Tensor | None) -> list[float]:
    assert tensor is not None
    values: list[float] = tensor.detach()[0].tolist()
    return values


def check_sample_and_weight(
    session: TrainingSession, sample: int, layer: int, out: int, inp: int
) -> None:
    """Raises SettingError naming the field when the point or the weight does not exist."""
    n = len(session.data.train_x)
    if not 0 <= sample < n:
        raise SettingError("index", f"index: sample {sample} is not a training point (0–{n - 1})")
    layers = session.model.layers
    if layer >= len(layers):
        raise SettingError(
            "weight", f"weight: the model has layers 0–{len(layers) - 1}, not {layer}"
        )
    linear = layers[layer]
    assert isinstance(linear, nn.Linear)
    if out >= linear.out_features or inp >= linear.in_features:
        raise SettingError(
            "weight",
            f"weight: layers[{layer}].weight is {linear.out_features}×{linear.in_features}, "
            f"it has no [{out}][{inp}]",
        )


def trace_sample(session: TrainingSession, sample: int) -> SampleTrace:
    """Forward and backward of training point `sample`, keeping every intermediate's .grad."""
    model, x, y = _sample_model(session, sample)
    # The same sequence of operations as MLP.forward_all, with each intermediate kept.
    features = model.features(x).detach().requires_grad_(True)
    h = features
    kept: list[tuple[torch.Tensor, torch.Tensor]] = []
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        z = layer(h)
        z.retain_grad()
        a = model.activate(i, z) if i < last else z
        a.retain_grad()
        kept.append((z, a))
        h = a
    loss = _data_loss(session, h, y)
    loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
    layers = [LayerTrace(_row(z), _row(a), _row(z.grad), _row(a.grad)) for z, a in kept]
    return SampleTrace(
        sample=sample,
        features=_row(features),
        feature_grads=_row(features.grad),
        target=[float(v) for v in y.flatten().tolist()],
        loss=loss.item(),
        layers=layers,
    )
