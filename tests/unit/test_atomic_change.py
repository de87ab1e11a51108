"""A settings change is applied whole or not at all."""

from __future__ import annotations

import pytest
import torch

from app.training.change import SettingsChange
from app.training.errors import SettingError
from app.training.session import TrainingSession


def test_switching_optimizer_and_batch_size_together_applies_both() -> None:
    session = TrainingSession()
    session.apply_change(SettingsChange(training={"optimizer": "adam", "batch_size": 30}))
    assert isinstance(session.optimizer, torch.optim.Adam)
    assert session.config.training.batch_size == 30
    session.train_step()
    assert session.sampler.samples_seen == 30


def test_a_refused_change_leaves_the_learning_rate_as_it_was() -> None:
    session = TrainingSession()
    before = session.config
    with pytest.raises(SettingError) as refused:
        session.apply_change(
            SettingsChange(training={"learning_rate": 0.5}, frozen_layers=[0, 1, 2])
        )
    assert refused.value.field == "frozen_layers"
    assert session.config == before
    assert session.optimizer.param_groups[0]["lr"] == pytest.approx(0.03)
    assert all(p.requires_grad for p in session.model.parameters())


def test_an_out_of_range_value_names_its_field_and_changes_nothing() -> None:
    session = TrainingSession()
    before = session.config
    with pytest.raises(SettingError) as refused:
        session.apply_change(
            SettingsChange(training={"momentum": 0.5, "learning_rate": -1.0}, activation="relu")
        )
    assert refused.value.field == "learning_rate"
    assert session.config == before
    assert session.model.activations == ["tanh", "tanh"]
