"""The `frame` message, StepFrame, and its parts: the state of a run after a burst of steps."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.protocol.base import RunStatus, ServerModel
from app.training.phases import Phase


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
    # What the task, regularisers and clipping add. `learning_rate` above is the effective one.
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
    # Gradient health, optimizer state and the timeline. While training they are
    # computed a few times a second and repeated in the frames between: `health_version` goes
    # up when they are fresh, so a page redraws their charts only then.
    health_version: int = 0
    health: GradientHealth | None = None
    optimizer_state: list[LayerOptimizerState] | None = None
    timeline: TimelineState | None = None
