"""The lab's configuration — data, model, training — validated and bounded by the hard limits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app import limits
from app.training.datasets import DatasetName
from app.training.features import FeatureName
from app.training.model import ActivationName, InitName

OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"]
ScheduleName = Literal["constant", "step", "exponential", "cosine", "warmup"]
ActivationPenaltyName = Literal["none", "l1", "l2"]

DEFAULT_FEATURES: tuple[FeatureName, ...] = ("x1", "x2")
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
LayerIndex = Annotated[int, Field(ge=0, le=limits.MAX_HIDDEN_LAYERS)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(StrictModel):
    dataset: DatasetName = "circle"
    n_points: int = Field(500, ge=limits.MIN_POINTS, le=limits.MAX_POINTS)
    # Playground's noise slider 0–50 is this fraction ×100.
    noise: float = Field(0.0, ge=0.0, le=0.5)
    train_fraction: float = Field(0.5, ge=0.1, le=0.9)
    seed: Seed = 0


class ModelConfig(StrictModel):
    hidden_layers: list[Annotated[int, Field(ge=1, le=limits.MAX_NEURONS_PER_LAYER)]] = Field(
        default_factory=lambda: [4, 2],
        min_length=limits.MIN_HIDDEN_LAYERS,
        max_length=limits.MAX_HIDDEN_LAYERS,
    )
    # The activation of every hidden layer, unless `layer_activations` names one for a layer.
    activation: ActivationName = "tanh"
    layer_activations: list[ActivationName] | None = Field(
        None, max_length=limits.MAX_HIDDEN_LAYERS
    )
    init: InitName = "default"
    seed: Seed = 0
    features: list[FeatureName] = Field(
        default_factory=lambda: list(DEFAULT_FEATURES), min_length=1, max_length=7
    )
    # Indices into model.layers (0 = the first hidden layer's incoming weights, last = output).
    frozen_layers: list[LayerIndex] = Field(
        default_factory=list, max_length=limits.MAX_HIDDEN_LAYERS + 1
    )

    @field_validator("features")
    @classmethod
    def _features_once_each(cls, features: list[FeatureName]) -> list[FeatureName]:
        if len(set(features)) != len(features):
            raise ValueError("each input feature at most once")
        return features

    def activations_per_layer(self) -> list[ActivationName]:
        """One activation per hidden layer: the per-layer choice where given, else the global."""
        chosen = self.layer_activations or []
        return [
            chosen[i] if i < len(chosen) else self.activation
            for i in range(len(self.hidden_layers))
        ]


class TrainingConfig(StrictModel):
    learning_rate: float = Field(0.03, ge=limits.MIN_LEARNING_RATE, le=limits.MAX_LEARNING_RATE)
    optimizer: OptimizerName = "sgd"
    # SGD: momentum and Nesterov. Adam/AdamW: beta1, beta2. RMSprop: alpha (and momentum).
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    beta2: float = Field(0.999, ge=0.0, lt=1.0)
    alpha: float = Field(0.99, ge=0.0, lt=1.0)
    eps: float = Field(1e-8, ge=1e-12, le=1.0)
    batch_size: int = Field(10, ge=1, le=limits.MAX_POINTS)
    # Learning-rate schedule, stepped once per optimizer step.
    schedule: ScheduleName = "constant"
    schedule_step_size: int = Field(100, ge=1, le=limits.MAX_SCHEDULE_STEPS)
    schedule_gamma: float = Field(0.5, gt=0.0, le=1.0)
    schedule_steps: int = Field(1000, ge=1, le=limits.MAX_SCHEDULE_STEPS)
    # Regularisation: L2 as the optimizer's weight_decay; L1 and the activation penalty as
    # terms added to the loss; clipping of the gradient's global norm before the step.
    weight_decay: float = Field(0.0, ge=0.0, le=limits.MAX_PENALTY)
    l1: float = Field(0.0, ge=0.0, le=limits.MAX_PENALTY)
    activation_penalty: ActivationPenaltyName = "none"
    activation_penalty_strength: float = Field(0.0, ge=0.0, le=limits.MAX_PENALTY)
    # 0 = no clipping.
    grad_clip_norm: float = Field(0.0, ge=0.0, le=limits.MAX_GRAD_CLIP_NORM)
    # The pace of Play: at most this many steps per frame, so a boundary can be watched as it
    # forms; 0 = as many as each frame's time allows (the machine's full speed). It changes
    # what a frame shows, never the run: the same steps happen in the same order.
    steps_per_frame: int = Field(0, ge=0, le=limits.MAX_STEPS_PER_FRAME)


class LabConfig(StrictModel):
    data: DataConfig = Field(default_factory=lambda: DataConfig())
    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    training: TrainingConfig = Field(default_factory=lambda: TrainingConfig())
