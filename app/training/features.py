"""Input features computed from (x₁, x₂), as Playground's clickable input column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

FeatureName = Literal["x1", "x2", "x1_squared", "x2_squared", "x1x2", "sin_x1", "sin_x2"]

FEATURES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1_squared": lambda x1, x2: x1 * x1,
    "x2_squared": lambda x1, x2: x2 * x2,
    "x1x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: torch.sin(x1),
    "sin_x2": lambda x1, x2: torch.sin(x2),
}
FEATURE_ORDER: tuple[str, ...] = tuple(FEATURES)


class FeatureMap(nn.Module):
    """(n, 2) points → (n, len(features)) inputs; no parameters, part of the model so that
    anything calling `model(points)` (grids, hover, model files) sees the same inputs."""

    def __init__(self, features: list[str]) -> None:
        super().__init__()
        unknown = set(features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; expected {FEATURE_ORDER}")
        self.names = list(features)
        # Read on every forward: worked out once (the names never change after this).
        self.is_identity = self.names == ["x1", "x2"]

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        if self.is_identity:
            return points
        x1, x2 = points[:, 0], points[:, 1]
        return torch.stack([FEATURES[name](x1, x2) for name in self.names], dim=1)
