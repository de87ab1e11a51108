"""The optimizer race: same start, same batches, and each racer a TrainingSession run exactly."""

from __future__ import annotations

import pytest
import torch

from app.training.config import LabConfig
from app.training.directions import flat_params, random_directions
from app.training.race import (
    MAX_RACE_STEPS,
    MAX_RACERS,
    RacerSettings,
    build_racer,
    project_race,
    racer_config,
    record_every,
    run_race,
    take_start,
)
from app.training.session import TrainingSession

SGD = RacerSettings("sgd", 0.1)
MOMENTUM = RacerSettings("sgd", 0.05, momentum=0.9)
ADAM = RacerSettings("adam", 0.01)


def config(**training: object) -> LabConfig:
    base = LabConfig()
    return base.model_copy(
        update={
            "training": base.training.model_validate({**base.training.model_dump(), **training})
        }
    )


def test_racers_start_from_the_sessions_current_weights_and_batches() -> None:
    session = TrainingSession(config(batch_size=10))
    for _ in range(25):
        session.train_step()
    start = take_start(session)
    racers = [build_racer(start, s) for s in (SGD, MOMENTUM, ADAM)]
    for racer in racers:
        assert torch.equal(flat_params(racer.model), flat_params(session.model))
        assert racer.sampler.position() == session.sampler.position()
    runs = run_race(start, [SGD, MOMENTUM, ADAM], steps=10)
    first_points = [run.params[0] for run in runs]
    assert all(torch.equal(p, flat_params(session.model)) for p in first_points)
    assert len({run.losses[0] for run in runs}) == 1
    # Different optimizers then go different ways.
    assert not torch.equal(runs[0].params[-1], runs[2].params[-1])


def test_a_race_starts_after_a_layer_was_prelu_and_switched_back() -> None:
    """The session keeps the slope of a layer that was PReLU (switching back keeps what it
    learnt); the racers, built from the settings, have no such slope and must not need one."""
    session = TrainingSession()
    session.set_layer_activations(["tanh", "prelu"])
    session.train_step()
    session.set_activation("tanh")
    start = take_start(session)
    racer = build_racer(start, ADAM)
    assert torch.equal(flat_params(racer.model), flat_params(session.model))
    assert racer.model.activations == ["tanh", "tanh"]


@pytest.mark.parametrize("settings", [SGD, MOMENTUM, ADAM], ids=lambda s: s.name)
def test_a_racer_is_a_training_session_with_those_settings_step_for_step(
    settings: RacerSettings,
) -> None:
    session = TrainingSession(config(batch_size=10))
    runs = run_race(take_start(session), [settings], steps=30)
    reference = TrainingSession(racer_config(session.config, settings))
    expected = [flat_params(reference.model)]
    for _ in range(30):
        reference.train_step()
        expected.append(flat_params(reference.model))
    run = runs[0]
    assert run.steps == list(range(31)) and run.diverged_at is None
    assert torch.equal(run.params, torch.stack(expected)), "bit for bit"


def test_a_race_from_mid_run_continues_the_sessions_own_batches() -> None:
    session = TrainingSession(config(batch_size=10, learning_rate=0.1))
    for _ in range(17):
        session.train_step()
    # Plain SGD keeps no state, so racing with the session's own settings is the session going on.
    run = run_race(take_start(session), [SGD], steps=20)[0]
    for k in range(1, 21):
        session.train_step()
        assert torch.equal(run.params[k], flat_params(session.model))


def test_paths_are_recorded_sparsely_and_end_at_the_last_step() -> None:
    session = TrainingSession(config())
    assert record_every(2000) == 10 and record_every(7) == 1
    run = run_race(take_start(session), [SGD], steps=450)[0]
    assert run.steps[0] == 0 and run.steps[-1] == 450
    assert run.steps[1] == 3 and len(run.steps) == len(run.losses) == len(run.params) == 151


def test_a_diverging_racer_stops_with_finite_points_only() -> None:
    session = TrainingSession(config(batch_size=10))
    run = run_race(take_start(session), [RacerSettings("sgd", 10.0, momentum=0.99)], 2000)[0]
    if run.diverged_at is not None:
        assert run.steps[-1] < run.diverged_at
    assert torch.isfinite(run.params).all()


def test_the_race_is_bounded() -> None:
    start = take_start(TrainingSession(config()))
    with pytest.raises(ValueError, match="entrants"):
        run_race(start, [SGD] * (MAX_RACERS + 1), 10)
    with pytest.raises(ValueError, match="steps"):
        run_race(start, [SGD], MAX_RACE_STEPS + 1)


def test_the_start_projects_to_the_planes_centre_and_every_path_has_a_residual() -> None:
    session = TrainingSession(config())
    runs = run_race(take_start(session), [SGD, ADAM], steps=40)
    d1, d2 = random_directions(session.model, seed=0)
    projected = project_race(runs, flat_params(session.model), d1, d2)
    for racer in projected:
        assert racer.coords.shape == (len(racer.run.steps), 2)
        assert racer.coords[0].abs().max() < 1e-6 and racer.residual[0] < 1e-6
        assert racer.residual[-1] > 0
