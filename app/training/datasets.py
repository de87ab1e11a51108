"""2-D toy datasets with TensorFlow Playground's shapes: every generator has one signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

DatasetName = Literal["circle", "xor", "gauss", "spiral"]

# Playground draws everything on [-6, 6]²; its generators fill roughly [-5, 5]².
INPUT_EXTENT = 6.0


@dataclass(frozen=True)
class Dataset:
    """Points split into train and test; labels are 0.0/1.0 floats shaped (n, 1) for BCE."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


Generator = Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    radius = 5.0
    half = n // 2
    inner_r = rng.uniform(0, radius * 0.5, half)
    outer_r = rng.uniform(radius * 0.7, radius, n - half)
    r = np.concatenate([inner_r, outer_r])
    angle = rng.uniform(0, 2 * np.pi, n)
    points = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    # As in Playground, the label is decided on the noisy position, the point drawn unmoved.
    noisy = points + rng.uniform(-radius, radius, (n, 2)) * noise
    labels = (np.linalg.norm(noisy, axis=1) < radius * 0.5).astype(np.float32)
    return points, labels


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    padding = 0.3
    points = rng.uniform(-5, 5, (n, 2))
    points += np.where(points > 0, padding, -padding)
    noisy = points + rng.uniform(-5, 5, (n, 2)) * noise
    labels = (noisy[:, 0] * noisy[:, 1] >= 0).astype(np.float32)
    return points, labels


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    variance = 0.5 + (4.0 - 0.5) * (noise / 0.5)
    half = n // 2
    positive = rng.normal((2.0, 2.0), np.sqrt(variance), (half, 2))
    negative = rng.normal((-2.0, -2.0), np.sqrt(variance), (n - half, 2))
    points = np.concatenate([positive, negative])
    labels = np.concatenate([np.ones(half), np.zeros(n - half)]).astype(np.float32)
    return points, labels


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    arms = []
    for label, delta in ((1.0, 0.0), (0.0, np.pi)):
        count = n // 2 if label == 1.0 else n - n // 2
        i = np.arange(count) / count
        r = i * 5
        t = 1.75 * i * 2 * np.pi + delta
        xy = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        xy += rng.uniform(-1, 1, (count, 2)) * noise
        arms.append((xy, np.full(count, label, dtype=np.float32)))
    points = np.concatenate([a[0] for a in arms])
    labels = np.concatenate([a[1] for a in arms])
    return points, labels


GENERATORS: dict[str, Generator] = {
    "circle": _circle,
    "xor": _xor,
    "gauss": _gauss,
    "spiral": _spiral,
}


def make_dataset(
    name: str, n_points: int, noise: float, train_fraction: float, seed: int
) -> Dataset:
    """Generate `n_points` of `name`, shuffle them with `seed`, and split train/test."""
    rng = np.random.default_rng(seed)
    points, labels = GENERATORS[name](n_points, noise, rng)
    order = rng.permutation(len(points))
    points = np.clip(points[order], -INPUT_EXTENT, INPUT_EXTENT).astype(np.float32)
    labels = labels[order].astype(np.float32)
    n_train = max(1, min(len(points) - 1, round(len(points) * train_fraction)))
    x = torch.from_numpy(points)
    y = torch.from_numpy(labels).unsqueeze(1)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
