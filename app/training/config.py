"""The lab's configuration — data, model, training — validated and bounded by the hard limits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app import limits
from app.training.datasets import DatasetName
from app.training.model import ActivationName, InitName

OptimizerName = Literal["sgd", "adam"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(StrictModel):
    dataset: DatasetName = "circle"
    n_points: int = Field(500, ge=limits.MIN_POINTS, le=limits.MAX_POINTS)
    # Playground's noise slider 0–50 is this fraction ×100.
    noise: float = Field(0.0, ge=0.0, le=0.5)
    train_fraction: float = Field(0.5, ge=0.1, le=0.9)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class ModelConfig(StrictModel):
    hidden_layers: list[Annotated[int, Field(ge=1, le=limits.MAX_NEURONS_PER_LAYER)]] = Field(
        default_factory=lambda: [4, 2],
        min_length=limits.MIN_HIDDEN_LAYERS,
        max_length=limits.MAX_HIDDEN_LAYERS,
    )
    activation: ActivationName = "tanh"
    init: InitName = "default"
    seed: int = Field(0, ge=0, le=2**31 - 1)


class TrainingConfig(StrictModel):
    learning_rate: float = Field(0.03, ge=limits.MIN_LEARNING_RATE, le=limits.MAX_LEARNING_RATE)
    optimizer: OptimizerName = "sgd"
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    batch_size: int = Field(10, ge=1, le=limits.MAX_POINTS)


class LabConfig(StrictModel):
    data: DataConfig = Field(default_factory=lambda: DataConfig())
    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    training: TrainingConfig = Field(default_factory=lambda: TrainingConfig())
