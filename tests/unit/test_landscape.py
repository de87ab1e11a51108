"""A landscape of a real run: snapshot, directions per mode, the path on the plane, the line."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from app.training.config import LabConfig, ModelConfig
from app.training.directions import flat_params
from app.training.landscape import (
    LINE_POINTS,
    LandscapeError,
    compute_landscape,
    take_snapshot,
)
from app.training.session import TrainingSession
from app.training.trajectory import Trajectory


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained(
    steps: int = 200, frames: int = 10, **model: object
) -> tuple[TrainingSession, Trajectory]:
    """A session trained in `frames` bursts, its path recorded once per burst as the server does."""
    session = TrainingSession(LabConfig(model=ModelConfig(**model)))  # type: ignore[arg-type]
    path = Trajectory()
    path.record(0, flat_params(session.model), session.evaluate().train_loss)
    for _ in range(frames):
        session.burst(steps // frames)
        path.record(session.step_count, flat_params(session.model), session.evaluate().train_loss)
    return session, path


def test_the_centre_of_the_plane_is_the_current_loss_and_the_path_ends_there() -> None:
    session, path = trained()
    land = compute_landscape(take_snapshot(session, path), "random", 21, None, 100.0, seed=1)
    assert land.loss.shape == (21, 21)
    own = session.evaluate().train_loss
    assert land.loss[10, 10].item() == pytest.approx(own, rel=1e-5)
    assert land.center_loss == pytest.approx(own, rel=1e-5)
    assert land.path_steps == [p.step for p in path.points()]
    assert land.path_coords[-1].abs().max() < 1e-5 and land.path_residual[-1] < 1e-5
    assert land.span == 1.0, "random directions' natural unit frames a short path"


def test_the_line_runs_from_the_initial_loss_to_the_current_one() -> None:
    session, path = trained()
    land = compute_landscape(take_snapshot(session, path), "random", 21, 0.5, 100.0)
    assert land.line_loss.shape == (LINE_POINTS,)
    assert land.line_loss[0].item() == pytest.approx(session.history[0].train, 1e-5)
    assert land.line_loss[-1].item() == pytest.approx(session.evaluate().train_loss, rel=1e-5)
    first = path.points()[0].params
    assert land.line_distance == pytest.approx(float((flat_params(session.model) - first).norm()))


def test_pca_directions_capture_the_path_so_its_residual_is_small() -> None:
    session, path = trained(steps=400, frames=20)
    land = compute_landscape(take_snapshot(session, path), "pca", 21, None, 100.0)
    assert land.explained is not None and land.explained.sum() > 0.9
    path_length = float(land.path_coords.norm(dim=1).max())
    assert float(land.path_residual.max()) < 0.3 * path_length
    # Fitted to the path: every point lies inside the plotted square.
    assert float(land.path_coords.abs().max()) < land.span


def test_pca_on_a_run_that_has_not_moved_names_the_mode() -> None:
    session, path = trained(steps=0, frames=0)
    with pytest.raises(LandscapeError) as caught:
        compute_landscape(take_snapshot(session, path), "pca", 21, None, 100.0)
    assert caught.value.field == "mode"


def test_two_weights_span_a_plane_in_raw_weight_units() -> None:
    session, path = trained()
    weights = [(0, 1, 0), (1, 0, 2)]
    land = compute_landscape(
        take_snapshot(session, path), "weights", 21, 2.0, 100.0, weights=weights
    )
    first = path.points()[0].params
    w0 = session.model.layers[0].weight[1, 0].item()
    w1 = session.model.layers[1].weight[0, 2].item()
    assert land.path_coords[0, 0].item() == pytest.approx(first[2].item() - w0, abs=1e-5)
    assert land.path_coords[0, 1].item() == pytest.approx(first[12 + 2].item() - w1, abs=1e-5)
    with pytest.raises(LandscapeError) as caught:
        compute_landscape(
            take_snapshot(session, path), "weights", 21, 1.0, 100.0, weights=[(0, 9, 0), (1, 0, 0)]
        )
    assert caught.value.field == "weights"


def test_the_surface_sees_the_models_input_features() -> None:
    session, path = trained(features=["x1", "x2", "x1_squared", "sin_x2"])
    land = compute_landscape(take_snapshot(session, path), "random", 21, 0.5, 100.0)
    assert land.loss[10, 10].item() == pytest.approx(session.evaluate().train_loss, rel=1e-5)


def test_training_after_the_snapshot_does_not_change_the_landscape() -> None:
    session, path = trained()
    snapshot = take_snapshot(session, path)
    before = compute_landscape(snapshot, "random", 21, 0.5, 100.0)
    session.burst(50)
    after = compute_landscape(snapshot, "random", 21, 0.5, 100.0)
    torch.testing.assert_close(before.loss, after.loss)
    assert math.isfinite(after.center_loss)


def test_a_prelu_slope_is_held_while_the_plane_moves_the_linear_weights() -> None:
    session, path = trained(activation="prelu")
    land = compute_landscape(take_snapshot(session, path), "random", 21, 0.5, 100.0)
    assert land.loss[10, 10].item() == pytest.approx(session.evaluate().train_loss, rel=1e-5)
