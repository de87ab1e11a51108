"""The recorded path: bounded, thinned evenly, and rewound when the run goes back."""

from __future__ import annotations

import math

import pytest
import torch

from app.training.trajectory import Trajectory


def params(value: float, size: int = 3) -> torch.Tensor:
    return torch.full((size,), value)


def test_every_recorded_step_is_kept_until_the_cap() -> None:
    path = Trajectory(max_points=10)
    for step in range(10):
        path.record(step, params(step), loss=1.0 / (step + 1))
    assert [p.step for p in path.points()] == list(range(10))
    assert path.points()[3].loss == pytest.approx(0.25)


def test_past_the_cap_every_other_point_goes_but_the_first_and_newest_stay() -> None:
    path = Trajectory(max_points=10)
    for step in range(1000):
        path.record(step, params(step))
        assert len(path) <= 10
    steps = [p.step for p in path.points()]
    assert steps[0] == 0 and steps[-1] == 999
    assert steps == sorted(steps)
    gaps = {b - a for a, b in zip(steps[:-2], steps[1:-1], strict=True)}
    assert len(gaps) == 1, f"thinning keeps the spacing even, got gaps {gaps}"


def test_the_recorded_vector_is_a_copy_the_caller_may_change() -> None:
    path = Trajectory()
    live = params(1.0)
    path.record(0, live)
    live.add_(5.0)
    assert torch.equal(path.points()[0].params, params(1.0))


def test_a_step_seen_again_replaces_the_point_and_a_lower_step_rewinds_the_path() -> None:
    path = Trajectory()
    for step in (0, 10, 20, 30):
        path.record(step, params(step))
    path.record(30, params(-1.0))  # the same step again (a live setting changed)
    assert [p.step for p in path.points()] == [0, 10, 20, 30]
    assert path.points()[-1].params[0] == -1.0
    path.record(15, params(15))  # a checkpoint restored after divergence
    assert [p.step for p in path.points()] == [0, 10, 15]
    path.record(0, params(100))  # a reset: a new run from step 0
    assert [p.step for p in path.points()] == [0]
    assert path.points()[0].params[0] == 100


def test_another_parameter_count_starts_a_new_path() -> None:
    path = Trajectory()
    path.record(0, params(0.0, size=3))
    path.record(5, params(0.0, size=3))
    path.record(6, params(0.0, size=7))
    assert [(p.step, p.params.numel()) for p in path.points()] == [(6, 7)]


def test_a_reader_keeps_the_list_it_was_given() -> None:
    path = Trajectory(max_points=4)
    for step in range(4):
        path.record(step, params(step))
    held = path.points()
    path.record(4, params(4))  # thins
    assert [p.step for p in held] == [0, 1, 2, 3]


def test_an_unknown_loss_is_nan_and_a_tiny_cap_is_refused() -> None:
    path = Trajectory()
    path.record(0, params(0))
    assert math.isnan(path.points()[0].loss)
    with pytest.raises(ValueError, match="at least 3"):
        Trajectory(max_points=2)


def test_a_new_run_records_densely_again() -> None:
    path = Trajectory(max_points=10)
    for step in range(1000):
        path.record(step, params(step))
    for step in range(5):  # a reset: steps start over
        path.record(step, params(step))
    assert [p.step for p in path.points()] == [0, 1, 2, 3, 4]
