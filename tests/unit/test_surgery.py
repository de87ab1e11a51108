"""Neuron surgery: a weight set by hand and a neuron switched off, in every forward path."""

from __future__ import annotations

import pytest
import torch

from app.training.config import LabConfig
from app.training.directions import flat_params, random_directions
from app.training.errors import SettingError
from app.training.stacked import grouping_problem
from app.training.surface import loss_surface, loss_surface_naive
from app.training.surgery import NeuronSwitch, WeightEdit
from app.training.trainer import TrainingSession


def session_of(**settings: object) -> TrainingSession:
    return TrainingSession(LabConfig.model_validate(settings))


def test_a_weight_set_by_hand_is_the_one_the_next_forward_uses() -> None:
    session = session_of()
    session.surgery.edit_weight(session.model, WeightEdit(0, 1, 0, 1, 0.5))
    assert session.model.layers[1].weight[0, 1].item() == 0.5
    assert session.surgery.edits == [WeightEdit(0, 1, 0, 1, 0.5)]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (WeightEdit(0, 3, 0, 0, 1.0), "layer"),
        (WeightEdit(0, 0, 4, 0, 1.0), "out_neuron"),
        (WeightEdit(0, 0, 0, 2, 1.0), "in_neuron"),
        (WeightEdit(0, 0, 0, 0, float("nan")), "value"),
    ],
)
def test_a_weight_that_is_not_there_is_refused_and_nothing_changes(
    edit: WeightEdit, field: str
) -> None:
    session = session_of()
    before = flat_params(session.model).clone()
    with pytest.raises(SettingError) as refused:
        session.surgery.edit_weight(session.model, edit)
    assert refused.value.field == field
    assert torch.equal(flat_params(session.model), before)
    assert session.surgery.edits == []


def test_a_neuron_switched_off_is_the_network_without_its_outgoing_weights() -> None:
    session = session_of(model={"hidden_layers": [4, 3]})
    x = session.data.train_x
    session.surgery.switch_neuron(session.model, NeuronSwitch(0, 0, 2, on=False))
    masked = session.model(x)
    session.surgery.switch_neuron(session.model, NeuronSwitch(0, 0, 2, on=True))
    assert session.model.neuron_masks == {}
    with torch.no_grad():
        session.model.layers[1].weight[:, 2] = 0.0
    torch.testing.assert_close(masked, session.model(x), rtol=0, atol=1e-7)


def test_training_goes_on_with_the_neuron_off_and_it_learns_nothing_through_it() -> None:
    session = session_of()
    session.surgery.switch_neuron(session.model, NeuronSwitch(0, 0, 1, on=False))
    outgoing = session.model.layers[1].weight[:, 1].clone()
    session.train_steps(20)
    assert torch.equal(session.model.layers[1].weight[:, 1], outgoing)
    assert session.surgery.switched_off() == [(0, 1)]


def test_a_rewind_before_a_switch_turns_the_neuron_back_on() -> None:
    session = session_of()
    session.train_steps(10)
    session.keep_rollback_point()
    session.surgery.switch_neuron(session.model, NeuronSwitch(10, 0, 1, on=False))
    session.train_steps(10)
    session.rewind(0)
    assert session.model.neuron_masks == {}
    assert session.surgery.edits == []


def test_the_batched_engine_refuses_a_run_with_a_neuron_off() -> None:
    session = session_of()
    assert grouping_problem(session, phase_pending=False) is None
    session.surgery.switch_neuron(session.model, NeuronSwitch(0, 1, 0, on=False))
    assert "switched off" in (grouping_problem(session, phase_pending=False) or "")


def test_the_loss_surface_sees_the_neuron_off() -> None:
    session = session_of(model={"hidden_layers": [5, 4], "activation": "tanh"})
    session.surgery.switch_neuron(session.model, NeuronSwitch(0, 0, 3, on=False))
    model, x, y = session.model, session.data.train_x, session.data.train_y
    center = flat_params(model)
    d1, d2 = random_directions(model, seed=1)
    fast = loss_surface(model, "bce", x, y, center, d1, d2, span=1.0, resolution=5)
    slow = loss_surface_naive(model, "bce", x, y, center, d1, d2, span=1.0, resolution=5)
    torch.testing.assert_close(fast.loss, slow.loss, rtol=1e-5, atol=1e-5)
