"""Server → client messages besides frames and surfaces: session, data, settings, errors,
the autograd graph and code, hover inspection, runs, rewinds and one sample by hand."""

from __future__ import annotations

from typing import Literal

from app.protocol.base import ServerModel
from app.protocol.requests import EdgeRef
from app.settings import PublicLimits
from app.training.config import LabConfig
from app.training.phases import Phase


class SessionInfo(ServerModel):
    type: Literal["session"] = "session"
    session_id: str
    resumed: bool
    limits: PublicLimits
    config: LabConfig


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
    # The torch.nn loss it trained with: only runs with the current one's are overlaid.
    loss_name: str
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
