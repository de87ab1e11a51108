"""Challenges as data: the task, the limits a run must keep, the goal, and the step budget."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.training.config import DataConfig, LabConfig, ModelConfig, OptimizerName, StrictModel
from app.training.datasets import DatasetName
from app.training.features import FeatureName
from app.training.model import ActivationName


class ChallengeLimits(StrictModel):
    """What a run may use; None leaves that knob free."""

    max_hidden_neurons: int | None = Field(None, ge=1)
    max_hidden_layers: int | None = Field(None, ge=1)
    min_hidden_layers: int | None = Field(None, ge=1)
    optimizers: list[OptimizerName] | None = None
    forbidden_features: list[FeatureName] = Field(default_factory=list)
    forbidden_activations: list[ActivationName] = Field(default_factory=list)


class ChallengeGoal(StrictModel):
    """Met once the engine's evaluation reaches `target` on the test points."""

    metric: Literal["test_accuracy", "test_loss"]
    target: float


class Challenge(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    title: str = Field(max_length=80)
    text: str = Field(max_length=400)
    dataset: DatasetName
    noise: float = Field(ge=0.0, le=0.5)
    limits: ChallengeLimits
    goal: ChallengeGoal
    # Met only at or before this many steps; None: no budget.
    step_budget: int | None = Field(None, ge=1)
    # The configuration pushed to the room when the teacher starts the challenge.
    start: LabConfig


def _start(dataset: DatasetName, noise: float, model: ModelConfig) -> LabConfig:
    return LabConfig(data=DataConfig(dataset=dataset, noise=noise), model=model)


CHALLENGES: dict[str, Challenge] = {
    c.id: c
    for c in (
        Challenge(
            id="spiral-few-neurons",
            title="Spiral with few neurons",
            text="Separate the spiral with at most 8 hidden neurons in at most 2 layers: "
            "test accuracy 90 % or better. Hint: the inputs you give the network matter.",
            dataset="spiral",
            noise=0.0,
            limits=ChallengeLimits(max_hidden_neurons=8, max_hidden_layers=2),
            goal=ChallengeGoal(metric="test_accuracy", target=0.9),
            start=_start("spiral", 0.0, ModelConfig(hidden_layers=[4, 2])),
        ),
        Challenge(
            id="xor-without-product",
            title="XOR without x₁x₂",
            text="Classify XOR from x₁ and x₂ alone (the x₁x₂ feature is not allowed), "
            "with plain SGD: test accuracy 95 % or better.",
            dataset="xor",
            noise=0.0,
            limits=ChallengeLimits(forbidden_features=["x1x2"], optimizers=["sgd"]),
            goal=ChallengeGoal(metric="test_accuracy", target=0.95),
            start=_start("xor", 0.0, ModelConfig(hidden_layers=[2])),
        ),
        Challenge(
            id="vanishing-gradients",
            title="Wake up the deep network",
            text="Six sigmoid layers barely learn: keep at least 5 hidden layers, leave sigmoid "
            "behind, and reach test loss 0.2 or lower within 3000 steps.",
            dataset="circle",
            noise=0.0,
            limits=ChallengeLimits(min_hidden_layers=5, forbidden_activations=["sigmoid"]),
            goal=ChallengeGoal(metric="test_loss", target=0.2),
            step_budget=3000,
            start=_start("circle", 0.0, ModelConfig(hidden_layers=[6] * 6, activation="sigmoid")),
        ),
    )
}
