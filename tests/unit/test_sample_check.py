"""One sample by hand: the chain rule's factors multiply to autograd's gradient, and a finite
difference agrees with autograd within the tolerance the module states."""

from __future__ import annotations

import pytest

from app.training.config import DataConfig, LabConfig, ModelConfig
from app.training.sample_check import (
    FINITE_DIFFERENCE_TOLERANCE,
    chain_rule,
    check_weight_gradient,
)
from app.training.session import TrainingSession

ACTIVATIONS = ["tanh", "relu", "sigmoid", "linear", "gelu", "prelu"]


def session(activation: str, dataset: str = "circle") -> TrainingSession:
    s = TrainingSession(
        LabConfig(
            data=DataConfig(dataset=dataset, n_points=40, seed=2),  # type: ignore[arg-type]
            model=ModelConfig(hidden_layers=[3, 2], activation=activation, seed=5),  # type: ignore[arg-type]
        )
    )
    for _ in range(5):
        s.train_step()  # away from the initial weights, so nothing is trivially symmetric
    return s


@pytest.mark.parametrize("dataset", ["circle", "blobs", "plane"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_finite_differences_agree_with_autograd(activation: str, dataset: str) -> None:
    s = session(activation, dataset)
    for layer, out, inp in [(0, 2, 1), (1, 1, 0), (2, 0, 1)]:
        check = check_weight_gradient(s, sample=3, layer=layer, out=out, inp=inp)
        assert check.agrees, check
        assert abs(check.autograd - check.finite_difference) <= FINITE_DIFFERENCE_TOLERANCE


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_chain_rule_factors_multiply_to_the_gradient(activation: str) -> None:
    s = session(activation)
    for layer, out, inp in [(0, 1, 0), (1, 0, 2), (2, 0, 1)]:
        rule = chain_rule(s, sample=7, layer=layer, out=out, inp=inp)
        assert rule.product == pytest.approx(rule.autograd, rel=1e-12, abs=1e-15)
    assert chain_rule(s, 7, 2, 0, 1).da_dz == 1.0, "the output layer has no activation"


def test_checking_leaves_the_session_untouched() -> None:
    s = session("tanh")
    before = [p.detach().clone() for p in s.model.parameters()]
    grads = [p.grad.clone() for p in s.model.parameters()]  # type: ignore[union-attr]
    check_weight_gradient(s, 0, 0, 0, 0)
    chain_rule(s, 0, 0, 0, 0)
    assert all(p.equal(b) for p, b in zip(s.model.parameters(), before, strict=True))
    assert all(p.grad.equal(g) for p, g in zip(s.model.parameters(), grads, strict=True))  # type: ignore[union-attr]


def test_a_frozen_layer_still_gets_its_gradient_by_hand() -> None:
    s = session("tanh")
    s.set_frozen_layers([0])
    rule = chain_rule(s, sample=7, layer=0, out=1, inp=0)
    assert rule.product == pytest.approx(rule.autograd, rel=1e-12, abs=1e-15)
    assert check_weight_gradient(s, sample=3, layer=0, out=2, inp=1).agrees
    assert not s.model.layers[0].weight.requires_grad, "the run's own layer stays frozen"
