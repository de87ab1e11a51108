"""Every websocket message, both directions, as pydantic models: the protocol's one source of truth.

Client messages are validated strictly (unknown fields are refused, so a typo is an error the
user sees rather than a setting silently ignored). Server messages are built by the server and
serialised with NaN/inf turned into null, so the browser always receives valid JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app import limits
from app.settings import PublicLimits
from app.training.config import (
    DataConfig,
    LabConfig,
    ModelConfig,
    OptimizerName,
    StrictModel,
)
from app.training.model import ActivationName

ControlAction = Literal["play", "pause", "step", "reset"]
RunStatus = Literal["idle", "running", "paused", "diverged"]


# ---- client → server ------------------------------------------------------------------------


class HelloRequest(StrictModel):
    """First message: resume `session_id` if the server still has it, else start afresh."""

    type: Literal["hello"]
    session_id: str | None = Field(None, max_length=64)
    config: LabConfig | None = None


class ConfigureRequest(StrictModel):
    """Model or data settings: a rebuild (new weights, new points); the run restarts at step 0."""

    type: Literal["configure"]
    data: DataConfig | None = None
    model: ModelConfig | None = None


class SetRequest(StrictModel):
    """Live knobs, applied from the next step with the weights kept."""

    type: Literal["set"]
    learning_rate: float | None = Field(
        None, ge=limits.MIN_LEARNING_RATE, le=limits.MAX_LEARNING_RATE
    )
    activation: ActivationName | None = None
    optimizer: OptimizerName | None = None
    momentum: float | None = Field(None, ge=0.0, lt=1.0)
    batch_size: int | None = Field(None, ge=1, le=limits.MAX_POINTS)


class ControlRequest(StrictModel):
    type: Literal["control"]
    action: ControlAction


ClientMessage = Annotated[
    HelloRequest | ConfigureRequest | SetRequest | ControlRequest,
    Field(discriminator="type"),
]
client_message_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# ---- server → client ------------------------------------------------------------------------


class ServerModel(BaseModel):
    # NaN/inf never reach the browser as invalid JSON: they are written as null.
    model_config = ConfigDict(ser_json_inf_nan="null")


class SessionInfo(ServerModel):
    type: Literal["session"] = "session"
    session_id: str
    resumed: bool
    limits: PublicLimits
    config: LabConfig


class LayerState(ServerModel):
    """One nn.Linear: weights[out][in], biases[out] and their latest gradients (None before any)."""

    weights: list[list[float]]
    biases: list[float]
    weight_grads: list[list[float]] | None
    bias_grads: list[float] | None


class Heatmap(ServerModel):
    """A square grid over the input plane, row 0 at the top (x₂ = +extent), quantised to bytes.

    `data` is base64 of resolution² unsigned bytes; byte v stands for low + v/255·(high − low).
    """

    resolution: int
    low: float
    high: float
    data: str


class LossPoint(ServerModel):
    step: int
    epoch: float
    train: float | None
    test: float | None


class Point(ServerModel):
    x1: float
    x2: float
    label: float


class DataFrame(ServerModel):
    """The points, sent when they change (not every frame)."""

    type: Literal["data"] = "data"
    extent: float
    train: list[Point]
    test: list[Point]


class StepFrame(ServerModel):
    """The latest state after a burst of steps; a slow page gets fewer, newer frames."""

    type: Literal["frame"] = "frame"
    step: int
    epoch: float
    status: RunStatus
    message: str | None = None
    learning_rate: float
    train_loss: float | None
    test_loss: float | None
    train_accuracy: float | None
    test_accuracy: float | None
    losses: list[LossPoint]
    # True when `losses` is the whole history (a resumed page, or history thinned): replace.
    losses_reset: bool
    layers: list[LayerState]
    activations: list[str]
    boundary: Heatmap
    neuron_maps: list[list[Heatmap]]
    steps_per_second: float


class ErrorFrame(ServerModel):
    """Bad input: which field and why. The connection and the run go on."""

    type: Literal["error"] = "error"
    field: str | None
    message: str


ServerMessage = Annotated[
    SessionInfo | DataFrame | StepFrame | ErrorFrame,
    Field(discriminator="type"),
]
server_message_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def protocol_json_schema() -> dict[str, Any]:
    return {
        "client": client_message_adapter.json_schema(),
        "server": server_message_adapter.json_schema(mode="serialization"),
    }


def message_types(adapter: TypeAdapter[Any]) -> set[str]:
    """The `type` names a union accepts, read from its own schema."""
    schema = adapter.json_schema()
    return set(schema["discriminator"]["mapping"])
