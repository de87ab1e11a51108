"""Hover inference: the model at one point of the input plane, as an `inspection` message.

Computed by the server rather than in the page: PyTorch stays the only implementation of the
features, activations (GELU, PReLU, …) and output squashing, so what the hover shows is
exactly what the model computes, and one small message per hover is cheap.
"""

from __future__ import annotations

import math

import torch

from app.protocol import InspectionFrame
from app.training.session import TrainingSession


def _values(tensor: torch.Tensor) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in tensor.flatten().tolist()]


@torch.no_grad()
def inspect_point(engine: TrainingSession, x1: float, x2: float) -> InspectionFrame:
    point = torch.tensor([[x1, x2]], dtype=torch.float32)
    model = engine.model
    *hidden, logits = model.forward_all(point)
    return InspectionFrame(
        x1=x1,
        x2=x2,
        step=engine.step_count,
        features=_values(model.features(point)),
        hidden=[_values(h) for h in hidden],
        logits=_values(logits),
        output=_values(engine.squash(logits)),
    )
