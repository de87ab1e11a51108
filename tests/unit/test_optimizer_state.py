"""The optimizer state shown per weight is the optimizer's own, and explains its real update."""

from __future__ import annotations

import torch

from app.training.config import LabConfig, TrainingConfig
from app.training.optimizer_state import weight_states
from app.training.session import TrainingSession


def last_update(session: TrainingSession) -> list[torch.Tensor]:
    """Train one more step and return each layer's actual weight change Δw."""
    before = [layer.weight.detach().clone() for layer in session.model.layers]
    session.train_step()
    return [
        layer.weight.detach() - b for layer, b in zip(session.model.layers, before, strict=True)
    ]


def test_plain_sgd_has_no_state_to_show() -> None:
    session = TrainingSession(LabConfig(training=TrainingConfig(optimizer="sgd")))
    session.burst(3)
    assert weight_states(session.optimizer, session.model) is None


def test_sgd_momentum_buffer_is_the_update_over_the_learning_rate() -> None:
    config = LabConfig(training=TrainingConfig(optimizer="sgd", momentum=0.9, learning_rate=0.05))
    session = TrainingSession(config)
    session.burst(5)
    deltas = last_update(session)
    states = weight_states(session.optimizer, session.model)
    assert states is not None
    for state, delta, layer in zip(states, deltas, session.model.layers, strict=True):
        assert state.momentum is not None
        buffer = session.optimizer.state[layer.weight]["momentum_buffer"]
        assert torch.equal(torch.from_numpy(state.momentum), buffer)
        torch.testing.assert_close(delta, -0.05 * buffer, rtol=1e-4, atol=1e-6)


def test_adam_m_v_and_step_size_explain_its_real_update() -> None:
    config = LabConfig(training=TrainingConfig(optimizer="adam", learning_rate=0.01))
    session = TrainingSession(config)
    session.burst(7)
    deltas = last_update(session)
    states = weight_states(session.optimizer, session.model)
    assert states is not None
    for state, delta, layer in zip(states, deltas, session.model.layers, strict=True):
        own = session.optimizer.state[layer.weight]
        assert state.exp_avg is not None and state.exp_avg_sq is not None
        assert state.step_size is not None
        assert torch.equal(torch.from_numpy(state.exp_avg), own["exp_avg"])
        assert torch.equal(torch.from_numpy(state.exp_avg_sq), own["exp_avg_sq"])
        # A weight with a tiny gradient can still move by ~lr: step size × m is the update.
        predicted = -torch.from_numpy(state.step_size) * own["exp_avg"]
        torch.testing.assert_close(delta, predicted, rtol=1e-4, atol=1e-6)
