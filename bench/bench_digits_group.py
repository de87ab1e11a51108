"""Image runs trained grouped (app/training/images/stacked.py) against the same runs stepped
eagerly one after another, on one thread as an engine worker trains.

Figures: total member steps per second for 20 runs of the default CNN (each its own seed and
learning rate), and of an MLP with dropout; the eager figure is the baseline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch

from app.training.config import TrainingConfig
from app.training.images.config import ImageLabConfig, ImageModelConfig, image_training_defaults
from app.training.images.digits import ImageDataset, load_digits
from app.training.images.run import ImageRun
from app.training.images.stacked import ImageGroup

RUNS = 20
WARM_UP_STEPS = 5
SECONDS = 4.0


def _configs(model: ImageModelConfig) -> list[ImageLabConfig]:
    base: TrainingConfig = image_training_defaults()
    return [
        ImageLabConfig(
            model=model.model_copy(update={"seed": k}),
            training=base.model_copy(update={"learning_rate": 0.005 + 0.001 * k}),
        )
        for k in range(RUNS)
    ]


def _eager_steps_per_second(runs: list[ImageRun]) -> float:
    for run in runs:
        run.train(WARM_UP_STEPS)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        for run in runs:
            run.step()
        steps += len(runs)
    return steps / (time.perf_counter() - start)


def _grouped_steps_per_second(runs: list[ImageRun]) -> float:
    group = ImageGroup(runs)
    group.train_steps(WARM_UP_STEPS)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        group.train_steps(1)
        steps += len(runs)
    return steps / (time.perf_counter() - start)


def _figure(name: str, model: ImageModelConfig, data: ImageDataset) -> dict[str, Any]:
    eager = _eager_steps_per_second([ImageRun(c, data) for c in _configs(model)])
    grouped = _grouped_steps_per_second([ImageRun(c, data) for c in _configs(model)])
    return {
        "name": name,
        "value": round(grouped, 1),
        "unit": "steps/s",
        "baseline": round(eager, 1),
        "ratio": round(grouped / eager, 2),
    }


def run() -> Iterator[dict[str, Any]]:
    torch.set_num_threads(1)
    data = load_digits(0.7, 0)
    yield _figure("digits_group20_steps_per_s", ImageModelConfig(), data)
    mlp = ImageModelConfig(conv_blocks=[], hidden_layers=[64], dropout=0.2)
    yield _figure("digits_group20_mlp_dropout_steps_per_s", mlp, data)
