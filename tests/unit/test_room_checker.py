"""The server's challenge checker: limits, goals and the step budget, judged by hand."""

from __future__ import annotations

from app.room.challenges import CHALLENGES
from app.room.checker import check
from app.training.config import LabConfig, ModelConfig, TrainingConfig

SPIRAL = CHALLENGES["spiral-few-neurons"]
XOR = CHALLENGES["xor-without-product"]
DEEP = CHALLENGES["vanishing-gradients"]


def test_a_run_inside_the_limits_that_reaches_the_accuracy_meets_the_challenge() -> None:
    config = SPIRAL.start.model_copy(update={"model": ModelConfig(hidden_layers=[4, 4])})
    assert check(SPIRAL, config, 500, 0.3, 0.91).state == "met"
    assert check(SPIRAL, config, 500, 0.3, 0.89).state == "working"


def test_too_many_neurons_or_layers_do_not_count_however_good_the_accuracy() -> None:
    many = SPIRAL.start.model_copy(update={"model": ModelConfig(hidden_layers=[5, 4])})
    verdict = check(SPIRAL, many, 10, 0.0, 1.0)
    assert verdict.state == "outside_limits"
    assert verdict.reasons == ["at most 8 hidden neurons (you have 9)"]
    deep = SPIRAL.start.model_copy(update={"model": ModelConfig(hidden_layers=[2, 2, 2])})
    assert check(SPIRAL, deep, 10, 0.0, 1.0).reasons == ["at most 2 hidden layers (you have 3)"]


def test_another_data_set_or_noise_does_not_count() -> None:
    other = LabConfig()
    other.data.noise = 0.1
    reasons = check(SPIRAL, other, 10, 0.0, 1.0).reasons
    assert reasons == ["use the spiral data set", "keep the noise at 0"]


def test_xor_refuses_the_product_feature_and_any_optimizer_but_sgd() -> None:
    cheat = XOR.start.model_copy(
        update={
            "model": ModelConfig(hidden_layers=[2], features=["x1", "x2", "x1x2"]),
            "training": TrainingConfig(optimizer="adam"),
        }
    )
    assert check(XOR, cheat, 10, 0.0, 1.0).reasons == [
        "optimizer must be sgd",
        "feature not allowed: x1x2",
    ]
    assert check(XOR, XOR.start, 10, 0.1, 0.96).state == "met"


def test_a_loss_goal_is_met_at_or_below_the_target_and_never_on_nan() -> None:
    relu = DEEP.start.model_copy(
        update={"model": ModelConfig(hidden_layers=[6] * 6, activation="relu")}
    )
    assert check(DEEP, relu, 100, 0.2, None).state == "met"
    assert check(DEEP, relu, 100, 0.21, 1.0).state == "working"
    assert check(DEEP, relu, 100, float("nan"), 1.0).state == "working"
    assert check(DEEP, relu, 100, None, 1.0).state == "working"


def test_the_sigmoid_start_itself_is_outside_the_limits_until_changed() -> None:
    assert check(DEEP, DEEP.start, 1, 0.0, 1.0).reasons == ["activation not allowed: sigmoid"]
    # A per-layer choice counts too: one sigmoid layer left is still sigmoid.
    mixed = DEEP.start.model_copy(
        update={
            "model": ModelConfig(
                hidden_layers=[6] * 6, activation="relu", layer_activations=["sigmoid"]
            )
        }
    )
    assert check(DEEP, mixed, 1, 0.0, 1.0).state == "outside_limits"
    shallow = DEEP.start.model_copy(
        update={"model": ModelConfig(hidden_layers=[6] * 4, activation="relu")}
    )
    assert check(DEEP, shallow, 1, 0.0, 1.0).reasons == ["at least 5 hidden layers (you have 4)"]


def test_the_goal_after_the_step_budget_is_over_budget() -> None:
    relu = DEEP.start.model_copy(
        update={"model": ModelConfig(hidden_layers=[6] * 6, activation="relu")}
    )
    assert check(DEEP, relu, 3000, 0.1, 1.0).state == "met"
    assert check(DEEP, relu, 3001, 0.1, 1.0).state == "over_budget"
