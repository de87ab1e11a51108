"""The server's verdict on a run against a challenge: inside the limits, and the goal met?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from app.room.challenges import Challenge
from app.training.config import LabConfig

VerdictState = Literal["working", "met", "outside_limits", "over_budget"]


@dataclass(frozen=True)
class Verdict:
    state: VerdictState
    # Why a run does not count, in words a student can act on.
    reasons: list[str] = field(default_factory=list)


def broken_limits(challenge: Challenge, config: LabConfig) -> list[str]:
    """Every rule of the challenge `config` breaks (empty when the run is fair)."""
    limits, model = challenge.limits, config.model
    reasons: list[str] = []
    if config.data.dataset != challenge.dataset:
        reasons.append(f"use the {challenge.dataset} data set")
    if not math.isclose(config.data.noise, challenge.noise, abs_tol=1e-9):
        reasons.append(f"keep the noise at {challenge.noise:g}")
    neurons, layers = sum(model.hidden_layers), len(model.hidden_layers)
    if limits.max_hidden_neurons is not None and neurons > limits.max_hidden_neurons:
        reasons.append(f"at most {limits.max_hidden_neurons} hidden neurons (you have {neurons})")
    if limits.max_hidden_layers is not None and layers > limits.max_hidden_layers:
        reasons.append(f"at most {limits.max_hidden_layers} hidden layers (you have {layers})")
    if limits.min_hidden_layers is not None and layers < limits.min_hidden_layers:
        reasons.append(f"at least {limits.min_hidden_layers} hidden layers (you have {layers})")
    if limits.optimizers is not None and config.training.optimizer not in limits.optimizers:
        reasons.append(f"optimizer must be {' or '.join(limits.optimizers)}")
    used = set(model.features) & set(limits.forbidden_features)
    if used:
        reasons.append(f"feature not allowed: {', '.join(sorted(used))}")
    banned = set(model.activations_per_layer()) & set(limits.forbidden_activations)
    if banned:
        reasons.append(f"activation not allowed: {', '.join(sorted(banned))}")
    return reasons


def goal_reached(
    challenge: Challenge, test_loss: float | None, test_accuracy: float | None
) -> bool:
    goal = challenge.goal
    if goal.metric == "test_accuracy":
        return (
            test_accuracy is not None
            and math.isfinite(test_accuracy)
            and (test_accuracy >= goal.target)
        )
    return test_loss is not None and math.isfinite(test_loss) and test_loss <= goal.target


def check(
    challenge: Challenge,
    config: LabConfig,
    step: int,
    test_loss: float | None,
    test_accuracy: float | None,
) -> Verdict:
    """The run's state at `step`, judged from the engine's own evaluation (never the page's)."""
    reasons = broken_limits(challenge, config)
    if reasons:
        return Verdict("outside_limits", reasons)
    if challenge.step_budget is not None and step > challenge.step_budget:
        return Verdict("over_budget", [f"met only within {challenge.step_budget} steps: reset"])
    if goal_reached(challenge, test_loss, test_accuracy):
        return Verdict("met")
    return Verdict("working")
