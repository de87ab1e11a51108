"""A group's pictures, painted in one stacked forward, equal each member's own readouts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.stacked import RunGroup
from app.training.stacked.pictures import GroupPainter
from app.training.trainer import TrainingSession


def run(dataset: str = "circle", model: dict[str, Any] | None = None, **training: Any) -> Any:
    return TrainingSession(
        LabConfig(
            data=DataConfig(dataset=dataset, **training.pop("data", {})),  # type: ignore[arg-type]
            model=ModelConfig(**(model or {})),
            training=TrainingConfig(**training),
        )
    )


def assert_pictures_are_the_runs_own(
    runs: list[TrainingSession], res: int, neuron_res: int
) -> None:
    group = RunGroup(runs)
    group.train_steps(7)
    pictures = GroupPainter().paint(group, res, neuron_res)
    for member, painted in zip(runs, pictures, strict=True):
        group.sync_out(member)
        assert painted.step == member.step_count
        np.testing.assert_allclose(painted.boundary, member.predict_grid(res), atol=1e-6)
        expected_neurons = member.neuron_grids(neuron_res)
        assert len(painted.neuron_grids) == len(expected_neurons)
        for got, want in zip(painted.neuron_grids, expected_neurons, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-6)
        if member.task.n_outputs > 1:
            assert painted.class_grids is not None
            np.testing.assert_allclose(painted.class_grids, member.class_grids(res), atol=1e-6)
        else:
            assert painted.class_grids is None
        expected = member.evaluate()
        for field in (
            "train_loss",
            "test_loss",
            "train_accuracy",
            "test_accuracy",
            "train_penalty",
        ):
            got, want = getattr(painted.evaluation, field), getattr(expected, field)
            if math.isnan(want):
                assert math.isnan(got), field
            else:
                assert got == pytest.approx(want, rel=1e-5, abs=1e-7), field


def test_binary_runs_on_their_own_data_are_painted_as_they_read_themselves() -> None:
    runs = [
        run(learning_rate=0.1),
        run(data={"seed": 3, "noise": 0.2, "n_points": 300}, learning_rate=0.03),
        run(data={"train_fraction": 0.8}, l1=0.01),
    ]
    assert_pictures_are_the_runs_own(runs, 16, 8)


def test_multiclass_and_regression_groups_paint_their_own_pictures() -> None:
    assert_pictures_are_the_runs_own([run("blobs"), run("blobs", data={"seed": 2})], 12, 12)
    assert_pictures_are_the_runs_own(
        [run("plane", weight_decay=0.01), run("plane", data={"noise": 0.3})], 10, 6
    )


def test_features_and_activation_penalties_are_painted_too() -> None:
    model = {
        "features": ["x1", "x2", "x1x2", "sin_x1"],
        "hidden_layers": [5, 3],
        "activation": "relu",
    }
    runs = [
        run(model=model, activation_penalty="l1", activation_penalty_strength=0.01),
        run(model=model, activation_penalty="l2", activation_penalty_strength=0.02),
    ]
    assert_pictures_are_the_runs_own(runs, 10, 10)


def test_points_stay_stacked_until_a_members_data_change() -> None:
    runs = [run(), run(data={"seed": 1})]
    group = RunGroup(runs)
    painter = GroupPainter()
    first = painter.paint(group, 8, 8)
    again = painter.paint(group, 8, 8)
    assert first[1].evaluation == again[1].evaluation
    group.leave(runs[1])
    runs[1].rebuild(data=DataConfig(seed=5))
    group.join(runs[1])
    changed = painter.paint(group, 8, 8)
    assert changed[1].evaluation.train_loss == pytest.approx(
        runs[1].evaluate().train_loss, rel=1e-5
    )
    assert changed[1].evaluation != first[1].evaluation
    assert torch.equal(torch.tensor(changed[0].boundary), torch.tensor(first[0].boundary))
