"""Every websocket message, both directions, as pydantic models: the protocol's one source of truth.

Client messages are validated strictly (unknown fields are refused, so a typo is an error the
user sees rather than a setting silently ignored). Server messages are built by the server and
serialised with NaN/inf turned into null, so the browser always receives valid JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from app import limits
from app.settings import PublicLimits
from app.training.change import SettingsChange
from app.training.config import (
    ActivationPenaltyName,
    DataConfig,
    LabConfig,
    LayerIndex,
    ModelConfig,
    OptimizerName,
    ScheduleName,
    StrictModel,
    TrainingConfig,
)
from app.training.datasets import INPUT_EXTENT
from app.training.model import ActivationName
from app.training.phases import Phase
from app.training.race import MAX_RACE_STEPS, MAX_RACERS

# Echoed in the `settings` or `error` message that answers a `set` or `configure`.
RequestId = Annotated[int, Field(ge=0, lt=2**31)]
ControlAction = Literal["play", "pause", "step", "step_phase", "reset"]
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
    request_id: RequestId | None = None


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
    # The training toolkit (issue 3): the same names and limits as TrainingConfig.
    nesterov: bool | None = None
    beta1: float | None = Field(None, ge=0.0, lt=1.0)
    beta2: float | None = Field(None, ge=0.0, lt=1.0)
    alpha: float | None = Field(None, ge=0.0, lt=1.0)
    eps: float | None = Field(None, ge=1e-12, le=1.0)
    schedule: ScheduleName | None = None
    schedule_step_size: int | None = Field(None, ge=1, le=limits.MAX_SCHEDULE_STEPS)
    schedule_gamma: float | None = Field(None, gt=0.0, le=1.0)
    schedule_steps: int | None = Field(None, ge=1, le=limits.MAX_SCHEDULE_STEPS)
    weight_decay: float | None = Field(None, ge=0.0, le=limits.MAX_PENALTY)
    l1: float | None = Field(None, ge=0.0, le=limits.MAX_PENALTY)
    activation_penalty: ActivationPenaltyName | None = None
    activation_penalty_strength: float | None = Field(None, ge=0.0, le=limits.MAX_PENALTY)
    # 0 = no clipping.
    grad_clip_norm: float | None = Field(None, ge=0.0, le=limits.MAX_GRAD_CLIP_NORM)
    # One activation per hidden layer; `activation` above sets them all.
    layer_activations: list[ActivationName] | None = Field(
        None, min_length=1, max_length=limits.MAX_HIDDEN_LAYERS
    )
    # Indices into model.layers whose parameters stop learning (requires_grad_(False)).
    frozen_layers: list[LayerIndex] | None = Field(None, max_length=limits.MAX_HIDDEN_LAYERS + 1)
    # Phase stepping only (issue 4): leave the gradients in place so they accumulate.
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
    type: Literal["control"]
    action: ControlAction


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
    resolution: int = Field(
        41, ge=limits.MIN_SURFACE_RESOLUTION, le=limits.MAX_SURFACE_RESOLUTION
    )
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
    | RaceRequest,
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
    """One nn.Linear: its weights (`shape` = [out, in], row-major), biases (out) and their latest
    gradients (None before any), each base64 of little-endian float32: exactly the values
    PyTorch holds, and for the largest model 4x cheaper to encode and 3x smaller than JSON
    numbers. The page's socket.js turns them back into weights[out][in] and biases[out] (a
    non-finite value into null, as JSON would have)."""

    shape: tuple[int, int]
    weights: str
    biases: str
    weight_grads: str | None
    bias_grads: str | None


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
    # The regulariser's share on the training set, apart from the data loss `train`.
    penalty: float | None = None
    # The effective learning rate (the schedule applied) at this step.
    learning_rate: float | None = None
    # Per layer (model.layers[i].weight), over the steps since the previous point: mean
    # gradient norm, mean |grad|, largest |grad|, mean ‖Δw‖/‖w‖. None before any step.
    grad_norm: list[float | None] | None = None
    mean_abs_grad: list[float | None] | None = None
    max_abs_grad: list[float | None] | None = None
    update_ratio: list[float | None] | None = None


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


class LayerActivity(ServerModel):
    """One nn.Linear's forward pass, batch means per neuron: z = W·input + b, and a = what it
    passes on (the activation's output; for the output layer a = z, the logits)."""

    pre_activations: list[float]
    activations: list[float]


class LayerUpdate(ServerModel):
    """What optimizer.step() did to one nn.Linear: values before, and after − before."""

    weights_before: list[list[float]]
    biases_before: list[float]
    weight_deltas: list[list[float]]
    bias_deltas: list[float]


class PhaseState(ServerModel):
    """Phase stepping: the phase just run, the next one, and what this step has shown so far
    (activity after forward, loss after loss, updates after step; gradients are in `layers`)."""

    done: Phase
    next: Phase
    step: int
    skip_zero_grad: bool
    zero_grad_skipped: bool
    loss: float | None
    activity: list[LayerActivity] | None
    # After backward: per layer, each neuron's ∂L/∂z (batch mean of the gradient autograd sent
    # into its pre-activation); a layer autograd did not reach (frozen first layer) is None.
    pre_activation_grads: list[list[float | None] | None] | None = None
    updates: list[LayerUpdate] | None


class LayerHealth(ServerModel):
    """One layer's health now: the share of dead ReLU / saturated tanh-sigmoid units over all
    training points (None where the activation cannot be), and its percentile bands (PERCENTILES
    of grad_health.py) of weights, latest weight gradients and outputs."""

    dead_fraction: float | None
    saturated_fraction: float | None
    weights: list[float | None]
    gradients: list[float | None] | None
    activations: list[float | None]


class HealthFlagState(ServerModel):
    kind: Literal["vanishing", "exploding", "dead_relu", "saturated", "large_update"]
    layer: int
    message: str


class GradientHealth(ServerModel):
    """Flags and per-layer unit health and distributions, once per frame (the per-step
    figures travel with the loss points)."""

    percentiles: list[float]
    layers: list[LayerHealth]
    flags: list[HealthFlagState]


class LayerOptimizerState(ServerModel):
    """The optimizer's own state for one layer's weights, [out][in] like the weights: SGD's or
    RMSprop's momentum buffer, Adam's m (exp_avg) and v (exp_avg_sq; RMSprop's square_avg), and
    the effective per-weight step size lr·(bias corrections)/(√v + ε) that m is multiplied by."""

    momentum: list[list[float]] | None = None
    exp_avg: list[list[float]] | None = None
    exp_avg_sq: list[list[float]] | None = None
    step_size: list[list[float]] | None = None


class TimelineState(ServerModel):
    """The steps one can rewind to (oldest first), the current run, and a note once old
    history was thinned to fit its memory limit."""

    steps: list[int]
    run: int
    run_name: str
    note: str | None = None


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
    # The training toolkit (issue 3). `learning_rate` above is the effective one.
    train_penalty: float | None = None
    task: Literal["binary", "multiclass", "regression"] = "binary"
    loss_name: str = "BCEWithLogitsLoss"
    output_activation: Literal["sigmoid", "softmax", "identity"] = "sigmoid"
    features: list[str] = Field(default_factory=lambda: ["x1", "x2"])
    frozen_layers: list[int] = Field(default_factory=list)
    # Each hidden layer's learnt PReLU slope; None where the layer is not PReLU.
    prelu_slopes: list[float | None] = Field(default_factory=list)
    # Multi-class: P(class k) over the plane, one map per class ([0, 1]).
    class_maps: list[Heatmap] | None = None
    # 1-D regression: the model's output along x₁ ∈ [−extent, extent] with x₂ = 0.
    curve: list[float | None] | None = None
    # The gradient's global norm before clipping, when clipping is on.
    grad_norm: float | None = None
    # Set while stepping phase by phase; None once a full step or Play has moved on.
    phase: PhaseState | None = None
    # Gradient health, optimizer state and the timeline (issue 6). While training they are
    # computed a few times a second and repeated in the frames between: `health_version` goes
    # up when they are fresh, so a page redraws their charts only then.
    health_version: int = 0
    health: GradientHealth | None = None
    optimizer_state: list[LayerOptimizerState] | None = None
    timeline: TimelineState | None = None


class ErrorFrame(ServerModel):
    """Bad input: which field and why. The connection and the run go on."""

    type: Literal["error"] = "error"
    field: str | None
    message: str
    # The refused request's id (a `set` or `configure` that carried one); nothing changed.
    request_id: int | None = None


class SettingsFrame(ServerModel):
    """The settings in force, sent to every page after an accepted `set` or `configure`, a
    rewind, a model file or CSV points: a page shows a setting once the server confirms it."""

    type: Literal["settings"] = "settings"
    config: LabConfig
    skip_zero_grad: bool
    # The id of the request this answers; None when no request of this page's asked for it.
    request_id: int | None = None


class ShutdownNotice(ServerModel):
    """The server is stopping (SIGTERM): the socket closes next, and the page should say so."""

    type: Literal["shutdown"] = "shutdown"
    message: str


class SurfaceGrid(ServerModel):
    """resolution² losses as base64 of little-endian uint16, row-major; row i lies at
    β = −span + 2·span·i/(resolution − 1) (row 0 at the BOTTOM), column j likewise at α.

    Code c < 65535 stands for low + c/65534·(high − low); 65535 marks a non-finite loss.
    """

    resolution: int
    low: float
    high: float
    data: str


class SurfacePath(ServerModel):
    """The recorded path, oldest first: its plane coordinates and distance off the plane."""

    steps: list[int]
    alpha: list[float]
    beta: list[float]
    residual: list[float]
    loss: list[float | None]


class LossLine(ServerModel):
    """The loss at evenly spaced points from the path's first parameters to the current ones."""

    start_step: int
    loss: list[float | None]
    distance: float


class SurfaceFrame(ServerModel):
    """A loss surface around the parameters at `step`, and the path on it.

    `center`, `d1`, `d2` are base64 float32 vectors of the nn.Linear parameters (each layer's
    weight row by row, then its bias): enough for the page to project each new frame's
    parameters onto the plane itself, by least squares as the server does.
    """

    type: Literal["surface"] = "surface"
    request: SurfaceRequest
    step: int
    span: float
    grid: SurfaceGrid
    center_loss: float | None
    center: str
    d1: str
    d2: str
    path: SurfacePath
    line: LossLine
    explained: list[float] | None
    compute_ms: float


class RacerPath(ServerModel):
    """One racer's recorded points, oldest first: its loss on the training set and its place
    on the current surface's plane (with the distance off it, as for the session's path)."""

    name: str
    entry: RaceEntry
    steps: list[int]
    loss: list[float | None]
    alpha: list[float]
    beta: list[float]
    residual: list[float]
    diverged_at: int | None


class RaceFrame(ServerModel):
    """An optimizer race from the weights at `start_step`, projected on the plane of the
    surface at `surface_step` (sent again, reprojected, whenever a new surface arrives)."""

    type: Literal["race"] = "race"
    start_step: int
    steps: int
    surface_step: int
    parameter_count: int
    racers: list[RacerPath]
    compute_ms: float


class AutogradNode(ServerModel):
    """A node of loss.grad_fn's graph: an op (`AddmmBackward0`, …) or a leaf (`AccumulateGrad`)
    labelled with its parameter's name, shape and, once backward has run, its gradient's norm.
    `depth` is the longest path from the loss, so parents always sit above their inputs."""

    id: int
    name: str
    depth: int
    parameter: str | None = None
    shape: list[int] | None = None
    grad_norm: float | None = None


class AutogradEdge(ServerModel):
    """`source`'s gradient flows on to `target` (an entry of source.next_functions)."""

    source: int
    target: int


class AutogradGraphFrame(ServerModel):
    """The backward graph, sent when the model or its activations change and after phases."""

    type: Literal["autograd"] = "autograd"
    nodes: list[AutogradNode]
    edges: list[AutogradEdge]
    has_gradients: bool


class CodeListing(ServerModel):
    """The training loop for the current settings, as a runnable script, sent when they change.
    `phase_lines` are 1-based line numbers of the five phases, for highlighting."""

    type: Literal["code"] = "code"
    source: str
    phase_lines: dict[Phase, int]


class InspectionFrame(ServerModel):
    """The model at (x1, x2) at `step`: each input feature, every hidden neuron's activation,
    the output logits and the output after the task's activation (sigmoid, softmax, identity)."""

    type: Literal["inspection"] = "inspection"
    x1: float
    x2: float
    step: int
    features: list[float | None]
    hidden: list[list[float | None]]
    logits: list[float | None]
    output: list[float | None]


class RunCurve(ServerModel):
    """A run (a line of training) and its training loss, for overlaying and export."""

    id: int
    name: str
    parent: int | None
    branch_step: int
    current: bool
    steps: list[int]
    train: list[float | None]


class RunsFrame(ServerModel):
    """The runs kept, sent when one is added; the current run's curve is the frame's losses."""

    type: Literal["runs"] = "runs"
    runs: list[RunCurve]


class RewoundFrame(ServerModel):
    """After a rewind: the step now shown and the settings in force there (for the controls)."""

    type: Literal["rewound"] = "rewound"
    step: int
    config: LabConfig


class SampleLayer(ServerModel):
    """One nn.Linear on one sample: z, a (= z on the output layer), ∂L/∂z and ∂L/∂a."""

    pre_activations: list[float | None]
    activations: list[float | None]
    pre_activation_grads: list[float | None]
    activation_grads: list[float | None]


class ChainRuleFactors(ServerModel):
    """∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w, each factor read from autograd; `autograd` is w.grad."""

    dloss_da: float | None
    da_dz: float | None
    dz_dw: float | None
    product: float | None
    autograd: float | None


class GradientCheckResult(ServerModel):
    """Autograd against (L(w + ε) − L(w − ε)) / 2ε; they agree when
    |autograd − finite_difference| ≤ tolerance × max(1, |autograd|)."""

    autograd: float | None
    finite_difference: float | None
    epsilon: float
    tolerance: float
    agrees: bool


class SampleFrame(ServerModel):
    """Training point `index` at `step`, forward and backward on it alone (the data loss, in
    float64): the answer to a `sample` request."""

    type: Literal["sample"] = "sample"
    index: int
    step: int
    features: list[float | None]
    feature_grads: list[float | None]
    target: list[float | None]
    loss: float | None
    layers: list[SampleLayer]
    weight: EdgeRef
    chain_rule: ChainRuleFactors
    check: GradientCheckResult | None


ServerMessage = Annotated[
    SessionInfo
    | DataFrame
    | StepFrame
    | ErrorFrame
    | SettingsFrame
    | ShutdownNotice
    | SurfaceFrame
    | AutogradGraphFrame
    | CodeListing
    | InspectionFrame
    | RunsFrame
    | RewoundFrame
    | SampleFrame
    | RaceFrame,
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
