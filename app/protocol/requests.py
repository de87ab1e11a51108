"""Client → server messages: validated strictly (unknown fields are refused, so a typo is an
error the user sees rather than a setting silently ignored)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

from pydantic import Field, TypeAdapter, create_model, field_validator, model_validator

from app import limits
from app.protocol.deeper import (
    CurvatureRequest,
    EditWeightRequest,
    HiddenSpaceRequest,
    OpenSweepCellRequest,
    SweepRequest,
    SwitchNeuronRequest,
)
from app.protocol.room import (
    RoomJoinRequest,
    RoomLockRequest,
    RoomPushRequest,
    RoomResetRequest,
    RoomSpotlightRequest,
    RoomTeachRequest,
    RoomWatchRequest,
)
from app.training.change import SettingsChange
from app.training.config import (
    DataConfig,
    LabConfig,
    ModelConfig,
    OptimizerName,
    StrictModel,
    TrainingConfig,
)
from app.training.datasets import INPUT_EXTENT
from app.training.model import ActivationName
from app.training.race import MAX_RACE_STEPS, MAX_RACERS

# Echoed in the `settings` or `error` message that answers a `set` or `configure`.
RequestId = Annotated[int, Field(ge=0, lt=2**31)]
ControlAction = Literal["play", "pause", "step", "step_phase", "reset", "run"]


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
    request_id: RequestId | None = None


def _optional(config: type[StrictModel], names: Iterable[str]) -> dict[str, Any]:
    """`names` of a config's fields, each optional (None: leave it as it is) with the same
    type and bounds: a `set` is refused by exactly the limits the config itself enforces."""
    fields: dict[str, Any] = {}
    for name in names:
        field = copy.copy(config.model_fields[name])
        field.default, field.default_factory = None, None
        fields[name] = (Optional[field.annotation], field)  # noqa: UP045 (a runtime type)
    return fields


# The knobs a `set` may change: every TrainingConfig field, and the activations and frozen
# layers of ModelConfig (the rest of the model needs new weights: that is a `configure`).
LIVE_MODEL_FIELDS = ("activation", "layer_activations", "frozen_layers")

if TYPE_CHECKING:
    # mypy cannot see fields made by create_model: it is shown the ones read by attribute
    # here (the training knobs are read by name, in training_changes). Their bounds and
    # types at run time are the configs', below.
    class LiveKnobs(StrictModel):
        activation: ActivationName | None = None
        layer_activations: list[ActivationName] | None = None
        frozen_layers: list[int] | None = None

else:
    LiveKnobs = create_model(
        "LiveKnobs",
        __base__=StrictModel,
        **_optional(TrainingConfig, TrainingConfig.model_fields),
        **_optional(ModelConfig, LIVE_MODEL_FIELDS),
    )


class SetRequest(LiveKnobs):
    """Live knobs, applied from the next step with the weights kept: any TrainingConfig field,
    `activation` (sets every hidden layer), `layer_activations` (one per hidden layer) and
    `frozen_layers` (indices into model.layers whose parameters stop learning)."""

    type: Literal["set"]
    # Phase stepping only: leave the gradients in place so they accumulate.
    skip_zero_grad: bool | None = None
    request_id: RequestId | None = None

    def settings_change(self) -> SettingsChange:
        """The engine's view of this request: one change, applied whole."""
        return SettingsChange(
            training=self.training_changes(),
            activation=self.activation,
            layer_activations=self.layer_activations,
            frozen_layers=self.frozen_layers,
        )

    def training_changes(self) -> dict[str, object]:
        """The fields given that are TrainingConfig knobs."""
        return {
            name: getattr(self, name)
            for name in self.model_fields_set & set(TrainingConfig.model_fields)
            if getattr(self, name) is not None
        }


class ControlRequest(StrictModel):
    """Run controls; `run` plays exactly `steps` more steps and pauses there (Run N steps)."""

    type: Literal["control"]
    action: ControlAction
    steps: int | None = Field(None, ge=1, le=limits.MAX_RUN_STEPS)

    @model_validator(mode="after")
    def _steps_go_with_run(self) -> ControlRequest:
        if (self.action == "run") != (self.steps is not None):
            raise ValueError("'steps' is given with action 'run', and only with it")
        return self


class EdgeRef(StrictModel):
    """One weight: `layers[layer].weight[out_neuron][in_neuron]`, an edge of the network graph."""

    layer: int = Field(ge=0, le=limits.MAX_HIDDEN_LAYERS)
    out_neuron: int = Field(ge=0, lt=limits.MAX_NEURONS_PER_LAYER)
    in_neuron: int = Field(ge=0, lt=64)


class SurfaceRequest(StrictModel):
    """The loss over a plane around the current parameters; the newest request replaces any
    older one still waiting, and `follow_every_steps` > 0 recomputes it as the model moves."""

    type: Literal["surface"]
    # random: seeded, filter-normalised (Li et al. 2018); pca: of the path so far; weights: the
    # two weights in `weights`.
    mode: Literal["random", "pca", "weights"] = "random"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    weights: list[EdgeRef] | None = Field(None, min_length=2, max_length=2)
    resolution: int = Field(41, ge=limits.MIN_SURFACE_RESOLUTION, le=limits.MAX_SURFACE_RESOLUTION)
    # Half the side of the plane, in units of the directions; None fits the path.
    span: float | None = Field(None, gt=0.0, le=limits.MAX_SURFACE_SPAN)
    follow_every_steps: int = Field(0, ge=0, le=1_000_000)

    @field_validator("weights")
    @classmethod
    def _two_different_weights(cls, weights: list[EdgeRef] | None) -> list[EdgeRef] | None:
        if weights is not None and weights[0] == weights[1]:
            raise ValueError("two different weights, or the plane is a line")
        return weights


class RaceEntry(StrictModel):
    """One optimizer of a race; `momentum` counts for SGD and RMSprop only."""

    optimizer: OptimizerName
    learning_rate: float = Field(ge=limits.MIN_LEARNING_RATE, le=limits.MAX_LEARNING_RATE)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)


class RaceRequest(StrictModel):
    """The optimizer race: every entry trained `steps` steps from the current weights on the
    same batches, answered by a `race` message with the paths on the loss surface's plane."""

    type: Literal["race"]
    entries: list[RaceEntry] = Field(min_length=1, max_length=MAX_RACERS)
    steps: int = Field(200, ge=1, le=MAX_RACE_STEPS)


PlaneCoordinate = Annotated[float, Field(ge=-INPUT_EXTENT, le=INPUT_EXTENT)]


class DrawnPoint(StrictModel):
    """A point the user clicked onto the plane; the label must suit the task (checked there)."""

    x1: PlaneCoordinate
    x2: PlaneCoordinate
    label: float = Field(ge=-1e6, le=1e6)


class PointLocation(StrictModel):
    """Where a point to remove lies, as the `data` message gave it."""

    x1: PlaneCoordinate
    x2: PlaneCoordinate


class EditPointsRequest(StrictModel):
    """Draw your own data: add training points, remove points; the weights are kept."""

    type: Literal["edit_points"]
    add: list[DrawnPoint] = Field(default_factory=list, max_length=limits.MAX_POINTS)
    remove: list[PointLocation] = Field(default_factory=list, max_length=limits.MAX_POINTS)


class InspectRequest(StrictModel):
    """The model at one point of the input plane (hover): answered by an `inspection`."""

    type: Literal["inspect"]
    x1: PlaneCoordinate
    x2: PlaneCoordinate


class RewindRequest(StrictModel):
    """Go back to a kept step (the timeline): parameters, optimizer state and settings as they
    were there. Training on from it starts a new run, a branch."""

    type: Literal["rewind"]
    step: int = Field(ge=0, le=10**9)


class SampleRequest(StrictModel):
    """One training point by hand, answered by a `sample`: every neuron's value and gradient on
    it, the chain rule for `weight`, and with `check` a finite-difference check of that weight."""

    type: Literal["sample"]
    index: int = Field(ge=0, lt=limits.MAX_POINTS)
    weight: EdgeRef = Field(default_factory=lambda: EdgeRef(layer=0, out_neuron=0, in_neuron=0))
    check: bool = False


ClientMessage = Annotated[
    HelloRequest
    | ConfigureRequest
    | SetRequest
    | ControlRequest
    | SurfaceRequest
    | EditPointsRequest
    | InspectRequest
    | RewindRequest
    | SampleRequest
    | RaceRequest
    | RoomJoinRequest
    | RoomTeachRequest
    | RoomPushRequest
    | RoomLockRequest
    | RoomSpotlightRequest
    | RoomResetRequest
    | RoomWatchRequest
    | CurvatureRequest
    | HiddenSpaceRequest
    | EditWeightRequest
    | SwitchNeuronRequest
    | SweepRequest
    | OpenSweepCellRequest,
    Field(discriminator="type"),
]
client_message_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
