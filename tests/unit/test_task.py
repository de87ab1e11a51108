"""Each task names one loss, squashes its outputs as that loss implies, and accepts its labels."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from app.training.datasets import make_dataset
from app.training.task import TASKS


def test_each_task_trains_with_the_torch_loss_it_names() -> None:
    for name, loss in (
        ("binary", nn.BCEWithLogitsLoss),
        ("multiclass", nn.CrossEntropyLoss),
        ("regression", nn.MSELoss),
    ):
        task = TASKS[name]  # type: ignore[index]
        assert isinstance(task.new_loss(), loss) and task.loss_name == loss.__name__


def test_the_squash_is_the_probability_the_loss_implies() -> None:
    z = torch.tensor([[0.3, -1.2, 2.0]])
    assert torch.equal(TASKS["binary"].squash(z), torch.sigmoid(z))
    assert torch.equal(TASKS["multiclass"].squash(z), torch.softmax(z, dim=1))
    assert torch.equal(TASKS["regression"].squash(z), z)


def test_accuracy_counts_the_right_side_of_zero_or_the_winning_class() -> None:
    assert (
        TASKS["binary"].accuracy(torch.tensor([[1.0], [-1.0]]), torch.tensor([[1.0], [1.0]])) == 0.5
    )
    logits = torch.tensor([[0.1, 2.0, 0.0], [3.0, 0.0, 0.0]])
    assert TASKS["multiclass"].accuracy(logits, torch.tensor([1, 2])) == 0.5
    assert math.isnan(TASKS["regression"].accuracy(logits, logits))


@pytest.mark.parametrize(
    ("name", "label", "accepted"),
    [
        ("binary", 1.0, True),
        ("binary", 2.0, False),
        ("multiclass", 2.0, True),
        ("multiclass", 3.0, False),
        ("multiclass", 0.5, False),
        ("regression", -7.25, True),
        ("regression", math.nan, False),
    ],
)
def test_labels_are_checked_by_the_task_rule(name: str, label: float, accepted: bool) -> None:
    assert (TASKS[name].label_problem(label) is None) is accepted  # type: ignore[index]


def test_targets_and_outputs_fit_the_generated_data_of_each_task() -> None:
    for dataset in ("circle", "blobs", "sine"):
        data = make_dataset(dataset, 30, 0.0, 0.5, 0)
        task = TASKS[data.task]
        model_output = torch.zeros(len(data.train_y), task.n_outputs)
        task.new_loss()(model_output, data.train_y)  # shapes the loss accepts
