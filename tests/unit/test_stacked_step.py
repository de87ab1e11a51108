"""One grouped step equals one eager train_step() of each member, for every optimizer and knob."""

from __future__ import annotations

from typing import Any

import pytest

from app.training.stacked import RunGroup
from tests.unit.stacked_oracle import assert_same_run, twins


def step_both(settings: list[dict[str, Any]], model: dict[str, Any] | None = None) -> None:
    grouped, eager = twins(settings, model)
    group = RunGroup(grouped)
    group.train_steps(1)
    for s in eager:
        s.train_step()
    for a, b in zip(grouped, eager, strict=True):
        group.sync_out(a)
        assert_same_run(a, b)


OPTIMIZER_CASES: list[dict[str, Any]] = [
    {"optimizer": "sgd"},
    {"optimizer": "sgd", "momentum": 0.9},
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"optimizer": "sgd", "weight_decay": 0.05},
    {"optimizer": "adam"},
    {"optimizer": "adam", "weight_decay": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
    {"optimizer": "adamw", "weight_decay": 0.1},
    {"optimizer": "rmsprop"},
    {"optimizer": "rmsprop", "momentum": 0.5, "weight_decay": 0.01, "alpha": 0.9},
    {"optimizer": "adagrad"},
    {"optimizer": "adagrad", "weight_decay": 0.01},
]


@pytest.mark.parametrize("settings", OPTIMIZER_CASES, ids=lambda s: "-".join(map(str, s.values())))
def test_a_grouped_step_equals_the_eager_step_of_each_optimizer(settings: dict[str, Any]) -> None:
    step_both([settings, {**settings, "learning_rate": 0.1}])


@pytest.mark.parametrize("schedule", ["constant", "step", "exponential", "cosine", "warmup"])
def test_each_schedule_gives_the_rate_the_eager_scheduler_gives(schedule: str) -> None:
    common = {"schedule": schedule, "schedule_step_size": 2, "schedule_steps": 3}
    step_both(
        [
            {**common, "schedule_gamma": 0.5},
            {**common, "learning_rate": 0.2, "schedule_gamma": 0.9, "momentum": 0.5},
        ]
    )


def test_members_with_different_hyper_parameters_share_a_group() -> None:
    step_both(
        [
            {"optimizer": "adam", "learning_rate": 0.001},
            {"optimizer": "adam", "learning_rate": 0.05, "beta1": 0.5, "weight_decay": 0.02},
            {"optimizer": "adam", "schedule": "cosine", "schedule_steps": 5, "l1": 0.01},
        ]
    )


def test_l1_and_activation_penalties_are_each_runs_own() -> None:
    step_both(
        [
            {"l1": 0.01},
            {"activation_penalty": "l1", "activation_penalty_strength": 0.05},
            {"activation_penalty": "l2", "activation_penalty_strength": 0.1, "l1": 0.001},
            {},
        ]
    )


def test_clipping_uses_each_runs_own_norm() -> None:
    step_both(
        [
            {"grad_clip_norm": 0.01, "learning_rate": 0.5},
            {"grad_clip_norm": 100.0},
            {"learning_rate": 3.0},
            {"optimizer": "sgd", "grad_clip_norm": 0.05, "momentum": 0.9},
        ]
    )


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_frozen_layers_get_no_gradient_no_update_and_no_state(optimizer: str) -> None:
    extra = {"momentum": 0.9} if optimizer in ("sgd", "rmsprop") else {}
    settings = [{"optimizer": optimizer, "weight_decay": 0.01, **extra}] * 3
    grouped, eager = twins(settings, warm_up=0)
    # Frozen from the start in one run (torch keeps no state for it), after steps in another.
    for i, s in enumerate(grouped + eager):
        if i % 3 == 0:
            s.set_frozen_layers([0])
    for s in grouped + eager:
        s.train_step()
    for i, s in enumerate(grouped + eager):
        if i % 3 == 1:
            s.set_frozen_layers([1, 2])
    group = RunGroup(grouped)
    group.train_steps(1)
    for s in eager:
        s.train_step()
    for a, b in zip(grouped, eager, strict=True):
        group.sync_out(a)
        assert_same_run(a, b)


def test_prelu_slopes_are_per_run_parameters() -> None:
    model = {"activation": "prelu"}
    step_both([{"optimizer": "adam"}, {"optimizer": "adam", "l1": 0.01}], model)


def test_an_unused_prelu_slope_moves_only_under_l1() -> None:
    grouped, eager = twins([{"l1": 0.01}, {}], {"activation": "prelu"})
    for s in grouped + eager:
        s.set_activation("tanh")  # the slope stays a parameter
    group = RunGroup(grouped)
    group.train_steps(1)
    for s in eager:
        s.train_step()
    for a, b in zip(grouped, eager, strict=True):
        group.sync_out(a)
        assert_same_run(a, b)


def test_multiclass_and_regression_tasks_step_as_eagerly() -> None:
    for dataset in ("blobs", "sine"):
        grouped, eager = twins([{}, {"learning_rate": 0.1}], warm_up=0)
        for s in grouped + eager:
            s.rebuild(data=s.config.data.model_copy(update={"dataset": dataset}))
        group = RunGroup(grouped)
        group.train_steps(1)
        for s in eager:
            s.train_step()
        for a, b in zip(grouped, eager, strict=True):
            group.sync_out(a)
            assert_same_run(a, b)


def test_a_prelu_slope_no_run_uses_gets_no_gradient_and_stays() -> None:
    grouped, eager = twins([{}, {"optimizer": "sgd", "momentum": 0.9}], {"activation": "prelu"})
    for s in grouped + eager:
        s.set_activation("tanh")
    group = RunGroup(grouped)
    group.train_steps(1)
    for s in eager:
        s.train_step()
    for a, b in zip(grouped, eager, strict=True):
        group.sync_out(a)
        assert_same_run(a, b)


@pytest.mark.parametrize("schedule", ["step", "exponential", "cosine", "warmup"])
def test_schedules_stay_on_the_eager_rates_past_their_length(schedule: str) -> None:
    common = {"schedule": schedule, "schedule_step_size": 3, "schedule_steps": 7}
    grouped, eager = twins([{**common, "schedule_gamma": 0.8}, {**common, "learning_rate": 0.1}])
    group = RunGroup(grouped)
    for _ in range(20):
        group.train_steps(1)
        for a, b in zip(grouped, eager, strict=True):
            b.train_step()
            group.sync_out(a)
            assert abs(a.learning_rate - b.learning_rate) <= 1e-9 * b.learning_rate + 1e-15
