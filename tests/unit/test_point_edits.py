"""Drawn points: added to training, removed where clicked; the run keeps its weights."""

from __future__ import annotations

import pytest
import torch

from app.training.config import DataConfig, LabConfig
from app.training.point_edits import PointEditError, edit_points
from app.training.session import TrainingSession


def small_session(dataset: str = "circle") -> TrainingSession:
    return TrainingSession(LabConfig(data=DataConfig(dataset=dataset, n_points=20)))  # type: ignore[arg-type]


def test_an_added_point_joins_the_training_set_with_its_label() -> None:
    data = small_session().data
    edited = edit_points(data, add=[(1.5, -2.0, 1.0)], remove=[])
    assert len(edited.train_x) == len(data.train_x) + 1
    assert edited.train_x[-1].tolist() == [1.5, -2.0]
    assert edited.train_y[-1].tolist() == [1.0]
    assert torch.equal(edited.test_x, data.test_x)


def test_a_point_is_removed_where_it_lies_in_training_or_test_data() -> None:
    data = small_session().data
    train_point = tuple(data.train_x[3].tolist())
    test_point = tuple(data.test_x[0].tolist())
    edited = edit_points(data, add=[], remove=[train_point, test_point, (5.9, 5.9)])
    assert len(edited.train_x) == len(data.train_x) - 1
    assert len(edited.test_x) == len(data.test_x) - 1
    assert train_point not in [tuple(p) for p in edited.train_x.tolist()]


@pytest.mark.parametrize(
    ("dataset", "label", "message"),
    [("circle", 0.5, "not 0 or 1"), ("blobs", 3.0, "not a class id"), ("plane", 1e400, "finite")],
)
def test_a_label_the_task_cannot_use_is_refused(dataset: str, label: float, message: str) -> None:
    with pytest.raises(PointEditError, match=message):
        edit_points(small_session(dataset).data, add=[(0.0, 0.0, label)], remove=[])


def test_the_last_training_point_stays_and_the_point_limit_holds() -> None:
    data = small_session().data
    everything = [tuple(p) for p in data.train_x.tolist()]
    with pytest.raises(PointEditError, match="at least one training point"):
        edit_points(data, add=[], remove=everything)  # type: ignore[arg-type]
    with pytest.raises(PointEditError, match="at most 21 points"):
        edit_points(data, add=[(0.0, 0.0, 1.0), (1.0, 0.0, 1.0)], remove=[], max_points=21)


def test_editing_points_keeps_the_weights_and_the_step_and_training_goes_on() -> None:
    session = small_session()
    session.burst(max_steps=5)
    weights = [p.detach().clone() for p in session.model.parameters()]
    session.edit_points(add=[(0.5, 0.5, 1.0)], remove=[])
    assert session.step_count == 5
    assert all(torch.equal(a, b) for a, b in zip(weights, session.model.parameters(), strict=True))
    assert session.sampler.n_samples == len(session.data.train_x) == 11
    session.burst(max_steps=20)
    assert session.step_count == 25


def test_uploaded_points_rebuild_the_run_on_them() -> None:
    session = small_session()
    session.burst(max_steps=5)
    edited = edit_points(session.data, add=[(0.5, 0.5, 1.0)], remove=[])
    session.use_points(edited)
    assert session.step_count == 0 and len(session.data.train_x) == 11
