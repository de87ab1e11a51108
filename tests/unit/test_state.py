"""A TrainingState is taken whole and put back whole: restoring one and training on replays the
same steps bit for bit, whichever path (rollback, rewind, model file) restores it."""

from __future__ import annotations

import torch

from app.training.config import LabConfig, ModelConfig, TrainingConfig
from app.training.session import TrainingSession
from app.training.state import capture, restore


def parameters(session: TrainingSession) -> list[torch.Tensor]:
    return [p.detach().clone() for p in session.model.parameters()]


def assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_restoring_a_state_mid_epoch_replays_the_same_batches_and_updates() -> None:
    session = TrainingSession(LabConfig(training=TrainingConfig(optimizer="adam", batch_size=7)))
    session.train_steps(13)  # mid-epoch: the sampler's cursor matters, not only samples seen
    state = capture(session)
    session.train_steps(20)
    after = parameters(session)
    restore(session, state)
    assert session.step_count == 13 and session.sampler.position() == state.sampler
    session.train_steps(20)
    assert_same(parameters(session), after)


def test_a_state_from_before_a_change_of_optimizer_brings_the_old_optimizer_back() -> None:
    session = TrainingSession(LabConfig(training=TrainingConfig(momentum=0.9)))
    session.train_steps(10)
    state = capture(session)
    session.train_steps(5)
    after = parameters(session)
    session.set_training(optimizer="adam", learning_rate=0.1)
    session.train_steps(5)
    restore(session, state)
    assert session.config == state.config
    assert isinstance(session.optimizer, torch.optim.SGD)
    session.train_steps(5)
    assert_same(parameters(session), after)


def test_a_rollback_after_divergence_lands_exactly_on_a_fresh_run_at_that_step() -> None:
    config = LabConfig(
        model=ModelConfig(activation="linear"), training=TrainingConfig(learning_rate=10.0)
    )
    session = TrainingSession(config)
    divergence = None
    while divergence is None:
        divergence = session.burst(20).divergence
    fresh = TrainingSession(config)
    fresh.train_steps(divergence.restored_step)
    assert fresh.step_count == session.step_count
    assert fresh.sampler.position() == session.sampler.position()
    assert_same(parameters(session), parameters(fresh))


def test_a_model_file_carries_the_settings_and_weights_of_the_state() -> None:
    source = TrainingSession(LabConfig(model=ModelConfig(hidden_layers=[3, 3])))
    source.train_steps(30)
    target = TrainingSession()
    target.load_checkpoint(source.save_checkpoint())
    assert target.config == source.config and target.step_count == 0
    assert_same(parameters(target), parameters(source))
