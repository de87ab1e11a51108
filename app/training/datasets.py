"""2-D toy datasets with TensorFlow Playground's shapes: every generator has one signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from app.training.task import N_CLASSES, TASKS, TaskName

DatasetName = Literal["circle", "xor", "gauss", "spiral", "moons", "blobs", "plane", "sine"]

# Playground draws everything on [-6, 6]²; its generators fill roughly [-5, 5]².
INPUT_EXTENT = 6.0


@dataclass(frozen=True)
class Dataset:
    """Points split into train and test, with targets shaped for the task's loss (Task.targets).

    binary: 0.0/1.0 floats (n, 1) for BCEWithLogitsLoss; multiclass: int64 class indices (n,)
    for CrossEntropyLoss; regression: float targets (n, 1) for MSELoss.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    task: TaskName = "binary"

    @property
    def n_outputs(self) -> int:
        return TASKS[self.task].n_outputs


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


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn's two interleaving half circles, scaled ×3.5 and centred on the plane.
    upper = n // 2
    t_up = rng.uniform(0, np.pi, upper)
    t_down = rng.uniform(0, np.pi, n - upper)
    up = np.stack([np.cos(t_up), np.sin(t_up)], axis=1)
    down = np.stack([1 - np.cos(t_down), 0.5 - np.sin(t_down)], axis=1)
    points = (np.concatenate([up, down]) - (0.5, 0.25)) * 3.5
    points += rng.normal(0, 1, (n, 2)) * noise * 2
    labels = np.concatenate([np.zeros(upper), np.ones(n - upper)]).astype(np.float32)
    return points, labels


BLOB_CENTRES = ((0.0, 3.0), (-2.6, -1.5), (2.6, -1.5))
assert len(BLOB_CENTRES) == N_CLASSES, "one blob per class of the multi-class task"


def _blobs(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters: labels 0, 1, 2 (softmax and cross-entropy)."""
    sigma = 0.6 + 3 * noise
    labels = np.arange(n) % len(BLOB_CENTRES)
    centres = np.array(BLOB_CENTRES)[labels]
    return centres + rng.normal(0, sigma, (n, 2)), labels.astype(np.float32)


def _plane(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Playground's regression plane: target (x₁ + x₂)/10 in [-1, 1], noise on the target."""
    points = rng.uniform(-5, 5, (n, 2))
    target = (points[:, 0] + points[:, 1]) / 10 + rng.uniform(-1, 1, n) * noise
    return points, target.astype(np.float32)


def _sine(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D curve fit: x₂ = 0, target sin(x₁) (+ noise); drawn as target against x₁."""
    x1 = rng.uniform(-5, 5, n)
    target = np.sin(x1) + rng.normal(0, 1, n) * noise
    return np.stack([x1, np.zeros(n)], axis=1), target.astype(np.float32)


GENERATORS: dict[str, Generator] = {
    "circle": _circle,
    "xor": _xor,
    "gauss": _gauss,
    "spiral": _spiral,
    "moons": _moons,
    "blobs": _blobs,
    "plane": _plane,
    "sine": _sine,
}
DATASET_TASKS: dict[str, TaskName] = {
    "blobs": "multiclass",
    "plane": "regression",
    "sine": "regression",
}


def task_of(name: str) -> TaskName:
    """The task a generated dataset poses (the others are binary classification)."""
    return DATASET_TASKS.get(name, "binary")


def make_dataset(
    name: str, n_points: int, noise: float, train_fraction: float, seed: int
) -> Dataset:
    """Generate `n_points` of `name`, shuffle them with `seed`, and split train/test."""
    rng = np.random.default_rng(seed)
    points, labels = GENERATORS[name](n_points, noise, rng)
    order = rng.permutation(len(points))
    return split_dataset(points[order], labels[order], train_fraction, task_of(name))


def split_dataset(
    points: np.ndarray, labels: np.ndarray, train_fraction: float, task: TaskName
) -> Dataset:
    """Points (n, 2) and labels (n,) in their final order → the first share trains."""
    points = np.clip(points, -INPUT_EXTENT, INPUT_EXTENT).astype(np.float32)
    n_train = max(1, min(len(points) - 1, round(len(points) * train_fraction)))
    x = torch.from_numpy(np.ascontiguousarray(points))
    y = TASKS[task].targets(torch.from_numpy(labels.astype(np.float32)))
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], task)
