"""Messages for seeing deeper: curvature against the stability limit, the hidden space, neuron
surgery and sweeps (requests validated strictly, frames built by the server)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from app import limits
from app.protocol.base import ServerModel
from app.training.config import StrictModel

HiddenLayer = Annotated[int, Field(ge=0, lt=limits.MAX_HIDDEN_LAYERS)]
Neuron = Annotated[int, Field(ge=0, lt=limits.MAX_NEURONS_PER_LAYER)]
LayerIndex = Annotated[int, Field(ge=0, le=limits.MAX_HIDDEN_LAYERS)]
InputIndex = Annotated[int, Field(ge=0, lt=max(limits.MAX_NEURONS_PER_LAYER, 7))]
SweepAxisName = Literal["momentum", "batch_size"]
# A weight typed by hand: far beyond any a run reaches, short of overflowing the next layer.
MAX_EDITED_WEIGHT = 1000.0


class CurvatureRequest(StrictModel):
    """λmax now, and again every `every_steps` steps while the panel is on screen (0: once)."""

    type: Literal["curvature"]
    every_steps: int = Field(0, ge=0, le=1_000_000)
    # False: only change the following (a panel leaving the screen asks for nothing more).
    now: bool = True


class HiddenSpaceRequest(StrictModel):
    """Hidden layer `layer` on two of its neurons, or (None) its first two principal
    components; followed frame by frame while `follow`."""

    type: Literal["hidden_space"]
    layer: HiddenLayer = 0
    neurons: list[Neuron] | None = Field(None, min_length=2, max_length=2)
    follow: bool = True
    now: bool = True


class EditWeightRequest(StrictModel):
    """model.layers[layer].weight[out_neuron, in_neuron] = value; training goes on from it."""

    type: Literal["edit_weight"]
    layer: LayerIndex
    out_neuron: Neuron
    in_neuron: InputIndex
    value: float = Field(ge=-MAX_EDITED_WEIGHT, le=MAX_EDITED_WEIGHT)


class SwitchNeuronRequest(StrictModel):
    """A hidden neuron off (its output masked to 0 in every forward) or on again."""

    type: Literal["switch_neuron"]
    layer: HiddenLayer
    neuron: Neuron
    on: bool


class SweepRequest(StrictModel):
    """Start a sweep of `size` learning rates × `size` values of `axis`, `steps` each, from
    the run's settings, or stop the one under way."""

    type: Literal["sweep"]
    action: Literal["start", "stop"] = "start"
    axis: SweepAxisName = "momentum"
    size: int = Field(8, ge=2, le=8)
    steps: int = Field(500, ge=10, le=5000)


class OpenSweepCellRequest(StrictModel):
    """The run a cell of the latest sweep trained (index: row × columns + column), opened as
    a new run at its last step, paused."""

    type: Literal["open_sweep_cell"]
    index: int = Field(ge=0, lt=64)


class CurvatureFrame(ServerModel):
    type: Literal["curvature"] = "curvature"
    step: int
    lambda_max: float | None
    # 2/lr (SGD), (2 + 2β)/lr (momentum); None where no such line is defined (Adam, …).
    stability_limit: float | None
    optimizer: str
    learning_rate: float
    compute_ms: float


class HiddenSpaceFrame(ServerModel):
    type: Literal["hidden_space"] = "hidden_space"
    step: int
    layer: int
    neurons: list[int] | None
    explained: list[float] | None
    width: int  # neurons in the layer, for the page's choices
    points: list[list[float]]  # per training point, its two coordinates
    labels: list[float]
    grid: list[list[list[float]]]  # lines of the input plane, each a list of [a, b]


class SurgeryFrame(ServerModel):
    """The hand edits in force: sent to every page after one."""

    type: Literal["surgery"] = "surgery"
    step: int
    switched_off: list[list[int]]  # [layer, neuron] pairs
    edits: int


class SweepFrame(ServerModel):
    type: Literal["sweep"] = "sweep"
    status: Literal["running", "done", "stopped"]
    axis: SweepAxisName
    learning_rates: list[float]  # the columns
    values: list[float]  # the rows
    steps: int
    final_loss: list[list[float | None]] | None  # [row][column]; None where diverged
    diverged_at: list[list[int | None]] | None
    compute_ms: float
