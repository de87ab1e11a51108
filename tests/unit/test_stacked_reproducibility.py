"""A run's numbers do not depend on who else is in its group; the unpadded group stays faithful."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from app.training.stacked import RunGroup
from tests.unit.stacked_oracle import session, step_eagerly_and_compare, twins

CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {"momentum": 0.9}),
    ({"hidden_layers": [5], "activation": "prelu"}, {"optimizer": "adam", "l1": 0.001}),
    ({"activation": "sigmoid"}, {"optimizer": "rmsprop", "batch_size": 7, "grad_clip_norm": 0.3}),
]


@pytest.mark.parametrize(("model", "training"), CASES)
def test_a_run_is_bit_identical_alone_and_among_others(
    model: dict[str, Any], training: dict[str, Any]
) -> None:
    weights = []
    for others in (0, 6):
        run = session(model, **training)
        crowd = [
            session(model, **{**training, "learning_rate": 0.01 * (i + 1)}) for i in range(others)
        ]
        group = RunGroup(crowd[:3] + [run] + crowd[3:])
        group.train_steps(60)
        weights.append([p.detach().clone() for p in run.model.parameters()])
    for alone, among in zip(*weights, strict=True):
        assert torch.equal(alone, among)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_the_unpadded_group_equals_eager_steps_too(optimizer: str) -> None:
    settings = [
        {"optimizer": optimizer, "batch_size": 7},
        {"optimizer": optimizer, "batch_size": 7, "weight_decay": 0.01, "learning_rate": 0.01},
    ]
    grouped, eager = twins(settings)
    group = RunGroup(grouped, reproducible=False)
    group.train_steps(40)  # over an epoch's end, where batches are cut short
    step_eagerly_and_compare(group, grouped, eager, 40, rtol=1e-5)
