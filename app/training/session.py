"""A training session: owns the data, the model and the optimizer, and runs the tutorial's step."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from time import perf_counter

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from app.training.batches import BatchSampler
from app.training.change import SettingsChange, setting_error
from app.training.checkpoints import load_checkpoint, save_checkpoint
from app.training.config import (
    DataConfig,
    LabConfig,
    ModelConfig,
    OptimizerName,
    TrainingConfig,
)
from app.training.datasets import INPUT_EXTENT, Dataset, make_dataset
from app.training.errors import SettingError
from app.training.grad_health import GradientMonitor
from app.training.history import Run, Timeline
from app.training.lean_step import clear_gradients, optimizer_step
from app.training.loss_log import LossRecord, append_record
from app.training.model import MLP, ActivationName, build_model
from app.training.optimizers import (
    LRScheduler,
    add_parameters,
    apply_options,
    build_optimizer,
    build_scheduler,
    effective_learning_rate,
)
from app.training.penalties import activation_penalty, implied_l2_penalty, l1_penalty
from app.training.point_edits import edit_points
from app.training.state import TrainingState, capture, restore
from app.training.task import TASKS, OutputActivation, Task

# Past this a run is called diverged even while its loss is still finite: the weights are
# on their way to inf and every picture has stopped meaning anything.
DIVERGED_PARAMETER_MAGNITUDE = 1e6
# BCE with logits is numerically stable, so a far too high learning rate rarely makes NaN: the
# loss bounces above where it started instead. Twice the starting loss is not a wobble.
DIVERGED_LOSS_FACTOR = 2.0
# Changing any of these restarts the learning-rate schedule from the current step.
SCHEDULE_FIELDS = frozenset(
    {"learning_rate", "schedule", "schedule_step_size", "schedule_gamma", "schedule_steps"}
)


@dataclass(frozen=True)
class Evaluation:
    """Data losses (no penalty) on all points; `train_penalty` is the regulariser's share on
    the training set (L1, activation penalty, and the L2 that weight decay stands for)."""

    train_loss: float
    test_loss: float
    train_accuracy: float
    test_accuracy: float
    train_penalty: float = 0.0


@dataclass(frozen=True)
class LayerSnapshot:
    weights: np.ndarray
    biases: np.ndarray
    weight_grads: np.ndarray | None
    bias_grads: np.ndarray | None


@dataclass
class Divergence:
    step: int
    restored_step: int
    reason: str


@dataclass
class BurstResult:
    steps: int
    evaluation: Evaluation
    divergence: Divergence | None


@dataclass
class TrainingSession:
    """Everything one learner's run needs; pure PyTorch, driven by whoever owns it."""

    config: LabConfig = field(default_factory=LabConfig)

    def __post_init__(self) -> None:
        self.loss_fn: nn.Module = nn.BCEWithLogitsLoss()
        self.history: list[LossRecord] = []
        # Bumped whenever `history` is replaced rather than appended to (rebuild, thinning).
        self.history_generation = 0
        # States to rewind to and the runs branched off (history.py); the live session sets
        # its memory limit.
        self.timeline = Timeline()
        self._build_data()
        self._build_model()

    # ---- building ---------------------------------------------------------------------------

    def _build_data(self) -> None:
        d = self.config.data
        self.set_data(make_dataset(d.dataset, d.n_points, d.noise, d.train_fraction, d.seed))

    def set_data(self, data: Dataset) -> None:
        """New points; the loss follows the task (the caller rebuilds the model after)."""
        self.data: Dataset = data
        self.loss_fn = self.task.new_loss()

    @property
    def task(self) -> Task:
        """What the points ask of the network: loss, output activation, accuracy."""
        return TASKS[self.data.task]

    @property
    def loss_name(self) -> str:
        return self.task.loss_name

    @property
    def output_activation(self) -> OutputActivation:
        return self.task.output_activation

    def _build_model(self) -> None:
        m = self.config.model
        self.model: MLP = build_model(
            len(m.features),
            list(m.hidden_layers),
            m.activations_per_layer(),
            m.init,
            m.seed,
            n_outputs=self.data.n_outputs,
            features=list(m.features),
        )
        self.model.freeze(set(m.frozen_layers))
        self.gradient_monitor = GradientMonitor(self.model)
        self.optimizer = self._new_optimizer(self.config.training.optimizer)
        self.scheduler: LRScheduler = build_scheduler(self.optimizer, self.config.training)
        self.last_grad_norm: float | None = None
        self.last_data_loss: torch.Tensor | None = None
        self.last_penalty: torch.Tensor | None = None
        # The batch order depends on both seeds, so same settings ⇒ the same run.
        self.sampler = BatchSampler(
            len(self.data.train_x),
            self.config.training.batch_size,
            seed=self.config.data.seed * 1_000_003 + m.seed,
        )
        self.step_count = 0
        self.last_loss: float | None = None
        self.timeline.start_over(self.config, self.history)
        self.history = []
        self.history_generation += 1
        # The state a divergence rolls back to: the start of the current burst.
        self.rollback_point: TrainingState | None = None
        self.initial_evaluation = self.evaluate()
        self.divergence_reference = self.initial_evaluation.train_loss
        self.record_losses(self.initial_evaluation)

    def _new_optimizer(self, name: OptimizerName) -> torch.optim.Optimizer:
        return build_optimizer(name, self.model.parameters(), self.config.training)

    def rebuild(self, data: DataConfig | None = None, model: ModelConfig | None = None) -> None:
        """New data and/or a new network: the run starts over at step 0."""
        self.config = self.config.model_copy(
            update={"data": data or self.config.data, "model": model or self.config.model}
        )
        if data is not None:
            self._build_data()
        self._build_model()

    def save_checkpoint(self) -> bytes:
        """The model file: settings, weights and points as one torch file (checkpoints.py)."""
        return save_checkpoint(capture(self), self.data)

    def load_checkpoint(self, raw: bytes) -> None:
        """Settings, weights and points from a checked model file, the run at step 0 with a
        fresh optimizer; on any error nothing here has changed."""
        config, weights, points = load_checkpoint(raw)
        self.config = config
        if points is None:
            self._build_data()
        else:
            self.set_data(points)
        self._build_model()
        restore(self, replace(capture(self), model_state=weights))
        self.history = []
        self.initial_evaluation = self.evaluate()
        self.divergence_reference = self.initial_evaluation.train_loss
        self.record_losses(self.initial_evaluation)

    def use_points(self, data: Dataset) -> None:
        """The user's own points (an uploaded file): the run starts over on them at step 0."""
        self.set_data(data)
        self._build_model()

    def edit_points(
        self, add: list[tuple[float, float, float]], remove: list[tuple[float, float]]
    ) -> None:
        """Points drawn or removed by hand; the weights and the optimizer carry on."""
        self.data = edit_points(self.data, add, remove)
        seen = self.sampler.samples_seen
        m = self.config.model
        self.sampler = BatchSampler(
            len(self.data.train_x),
            self.config.training.batch_size,
            seed=self.config.data.seed * 1_000_003 + m.seed,
        )
        self.sampler.samples_seen = seen

    def reset(self) -> None:
        """Same settings, fresh weights from the same seed: the run replays from step 0."""
        self._build_model()

    # ---- live knobs: the weights are kept ---------------------------------------------------

    def apply_change(self, change: SettingsChange) -> None:
        """Live settings, validated whole and applied from the next step on the same weights.

        Everything is checked and the new configuration built before anything is touched: on
        a refusal (SettingError naming the field) the run is exactly as it was. A new
        optimizer starts with empty state (momentum, m, v); a new learning rate or schedule
        restarts the schedule from here; every other knob is written into the optimizer's
        param groups, keeping its state.
        """
        old = self.config
        try:
            training = TrainingConfig.model_validate(
                {**old.training.model_dump(), **change.training}
            )
            model = ModelConfig.model_validate(
                {**old.model.model_dump(), **self._model_updates(change)}
            )
        except ValidationError as error:
            raise setting_error(error) from None
        if len(model.frozen_layers) == len(self.model.layers):
            raise SettingError(
                "frozen_layers", "at least one layer must stay trainable: nothing would learn"
            )
        changed = {k for k in change.training if getattr(old.training, k) != getattr(training, k)}
        # Validated: from here on every step succeeds, so the swap is whole.
        created = self.model.set_activations(model.activations_per_layer())
        self.model.freeze(set(model.frozen_layers))
        if "optimizer" in changed:
            self.optimizer = build_optimizer(training.optimizer, self.model.parameters(), training)
            self.scheduler = build_scheduler(self.optimizer, training)
        else:
            add_parameters(self.optimizer, created)
            apply_options(self.optimizer, training.optimizer, training)
            if changed & SCHEDULE_FIELDS:
                self.scheduler = build_scheduler(self.optimizer, training)
        if "batch_size" in changed:
            self.sampler.set_batch_size(training.batch_size)
        self.config = old.model_copy(update={"training": training, "model": model})

    def _model_updates(self, change: SettingsChange) -> dict[str, object]:
        updates: dict[str, object] = {}
        if change.activation is not None:
            updates.update(activation=change.activation, layer_activations=None)
        if change.layer_activations is not None:
            updates["layer_activations"] = list(change.layer_activations)
        if change.frozen_layers is not None:
            n_layers = len(self.model.layers)
            kept = {i for i in change.frozen_layers if 0 <= i < n_layers}
            updates["frozen_layers"] = sorted(kept)
        return updates

    def set_training(self, **changes: object) -> None:
        self.apply_change(SettingsChange(training=changes))

    def set_learning_rate(self, learning_rate: float) -> None:
        self.set_training(learning_rate=learning_rate)

    def set_batch_size(self, batch_size: int) -> None:
        self.set_training(batch_size=batch_size)

    def set_optimizer(self, name: OptimizerName) -> None:
        self.set_training(optimizer=name)

    def set_activation(self, activation: ActivationName) -> None:
        """The global knob: every hidden layer gets `activation`."""
        self.apply_change(SettingsChange(activation=activation))

    def set_layer_activations(self, activations: list[ActivationName]) -> None:
        """One activation per hidden layer (missing ones keep the global activation)."""
        self.apply_change(SettingsChange(layer_activations=list(activations)))

    def set_frozen_layers(self, frozen_layers: list[int]) -> None:
        """requires_grad_(False) on these layers: no gradient, no update, until unfrozen."""
        self.apply_change(SettingsChange(frozen_layers=frozen_layers))

    # ---- training ---------------------------------------------------------------------------

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sampler.next_batch(self.data.train_x, self.data.train_y)

    def compute_loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss that backward() differentiates: the data loss plus the penalty terms.

        The activation penalty reads the hidden activations of the forward pass that made
        `output` (the model keeps them while autograd records).
        """
        data_loss = self.loss_fn(output, y)
        penalty = self.penalty(self.model.hidden_outputs, len(output))
        self.last_data_loss = data_loss.detach()
        self.last_penalty = penalty.detach() if isinstance(penalty, torch.Tensor) else None
        return data_loss + penalty if isinstance(penalty, torch.Tensor) else data_loss

    def penalty(self, hidden: list[torch.Tensor], batch_size: int) -> torch.Tensor | float:
        """L1 on every parameter plus the activation penalty; 0.0 (no term) when both are off."""
        t = self.config.training
        total: torch.Tensor | float = 0.0
        if t.l1 > 0:
            total = total + l1_penalty(self.model, t.l1)
        if t.activation_penalty != "none" and t.activation_penalty_strength > 0:
            total = total + activation_penalty(
                hidden, t.activation_penalty, t.activation_penalty_strength, batch_size
            )
        return total

    def before_optimizer_step(self) -> None:
        """Between loss.backward() and optimizer.step(): clip the gradient's global norm."""
        self.gradient_monitor.before_step()
        max_norm = self.config.training.grad_clip_norm
        if max_norm > 0:
            trainable = [p for p in self.model.parameters() if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(trainable, max_norm)
            self.last_grad_norm = float(norm)

    def finish_step(self, loss: torch.Tensor) -> float:
        """Bookkeeping after optimizer.step(): the schedule and the counters advance here."""
        self.gradient_monitor.after_step()
        # A constant schedule's step() changes nothing and costs ~5 % of a small model's step.
        if self.config.training.schedule != "constant":
            self.scheduler.step()
        self.step_count += 1
        self.last_loss = loss.item()
        return self.last_loss

    @property
    def learning_rate(self) -> float:
        """The effective learning rate of the next step (the schedule applied)."""
        return effective_learning_rate(self.optimizer)

    def train_step(self) -> float:
        """One optimizer step on the next mini-batch: literally the tutorial's five lines.

        Anything a feature adds goes into next_batch / compute_loss / before_optimizer_step
        (between backward and step: gradient clipping) / finish_step, which a
        phase-by-phase stepper calls in the same order, so both paths stay bit-identical.
        """
        x, y = self.next_batch()
        clear_gradients(self.optimizer)  # optimizer.zero_grad(), less torch's wrapping
        output = self.model(x)
        loss = self.compute_loss(output, y)
        loss.backward()
        self.before_optimizer_step()
        optimizer_step(self.optimizer)  # optimizer.step(), likewise
        return self.finish_step(loss)

    def keep_rollback_point(self) -> None:
        """Capture the current state as the one a divergence rolls back to; the timeline keeps
        the same state to rewind to (and may start a branch of the loss log)."""
        state = self.rollback_point = capture(self)
        history = self.timeline.keep(state, self.history)
        if history is not self.history:
            self.history = history
            self.history_generation += 1

    def rewind(self, step: int) -> TrainingState:
        """Back to the state kept at `step` (HistoryError if none is, and nothing changes but
        the present being kept): settings, weights, optimizer, schedule, batch order."""
        if self.timeline.leaving_present(self.step_count):
            self.keep_rollback_point()
        state = self.timeline.rewind_to(step)
        restore(self, state)
        # The gradient figures gathered since the last record belong to the steps left behind.
        self.gradient_monitor.collect()
        return state

    def runs(self) -> list[Run]:
        """Every run kept, oldest first; the last is the current one (its records are live)."""
        return self.timeline.runs(self.history)

    def run(self, run_id: int) -> Run:
        """The run `run_id`; HistoryError if it is not kept."""
        return self.timeline.run(self.history, run_id)

    def train_steps(
        self,
        max_steps: int,
        deadline: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Divergence | None:
        """Up to `max_steps` steps (or until `deadline`, a perf_counter time, or `stop()`).

        Stops at the first sign of divergence, rolls back to the burst's start and says so.
        """
        self.keep_rollback_point()
        for _ in range(max_steps):
            loss = self.train_step()
            reason = self._divergence_reason(loss)
            if reason is not None:
                return self._restore(reason)
            if deadline is not None and perf_counter() >= deadline:
                break
            if stop is not None and stop():
                break
        # A finite loss can still hide weights racing to inf; look once per burst.
        reason = self._parameter_divergence()
        return self._restore(reason) if reason else None

    def burst(
        self,
        max_steps: int,
        deadline: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> BurstResult:
        """Train, then evaluate on all points and record the losses: what one frame shows."""
        start = self.step_count
        divergence = self.train_steps(max_steps, deadline, stop)
        evaluation = self.evaluate()
        self.record_losses(evaluation)
        if divergence is None:
            divergence = self._loss_divergence(evaluation)
        return BurstResult(self.step_count - start, evaluation, divergence)

    def accept_current_loss(self) -> None:
        """Going on after a divergence: only a further doubling from here counts as one again."""
        self.divergence_reference = max(self.divergence_reference, self.evaluate().train_loss)

    def _loss_divergence(self, evaluation: Evaluation) -> Divergence | None:
        reference = self.divergence_reference
        if evaluation.train_loss > DIVERGED_LOSS_FACTOR * reference:
            reason = (
                f"the training loss {evaluation.train_loss:.3g} rose above twice {reference:.3g}"
            )
            return Divergence(self.step_count, self.step_count, reason)
        return None

    def _divergence_reason(self, loss: float) -> str | None:
        if not math.isfinite(loss):
            return f"the loss became {loss}"
        return None

    def _parameter_divergence(self) -> str | None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                largest = p.abs().max().item()
                if not math.isfinite(largest):
                    return f"parameter {name} became non-finite"
                if largest > DIVERGED_PARAMETER_MAGNITUDE:
                    return f"parameter {name} grew past {DIVERGED_PARAMETER_MAGNITUDE:g}"
        return None

    def _restore(self, reason: str) -> Divergence:
        diverged_at = self.step_count
        point = self.rollback_point
        assert point is not None, "train_steps always keeps a rollback point first"
        restore(self, point)
        return Divergence(diverged_at, point.step, reason)

    # ---- reading the state ------------------------------------------------------------------

    def accuracy(self, output: torch.Tensor, y: torch.Tensor) -> float:
        """Share of points classified right; NaN for regression (no classes to be right about)."""
        return self.task.accuracy(output, y)

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        d = self.data

        def loss_and_accuracy(output: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
            if len(y) == 0:
                return math.nan, math.nan
            return self.loss_fn(output, y).item(), self.accuracy(output, y)

        # One forward over the training points gives their loss and the penalty's activations.
        *hidden, train_output = self.model.forward_all(d.train_x)
        train_loss, train_acc = loss_and_accuracy(train_output, d.train_y)
        test_loss, test_acc = loss_and_accuracy(self.model(d.test_x), d.test_y)
        return Evaluation(train_loss, test_loss, train_acc, test_acc, self.train_penalty(hidden))

    @torch.no_grad()
    def train_penalty(self, hidden: list[torch.Tensor]) -> float:
        """The regulariser on the whole training set (`hidden`: its hidden activations), as
        the chart shows it beside the loss."""
        t = self.config.training
        penalty = self.penalty(hidden, len(self.data.train_x))
        total = float(penalty)
        if t.weight_decay > 0 and t.optimizer != "adamw":
            # weight_decay=λ adds λθ to the gradient: the gradient of λ/2·‖θ‖². AdamW's decay is
            # decoupled from the loss, so it has no loss term to show.
            total += implied_l2_penalty(self.model, t.weight_decay)
        return total

    def record_losses(self, evaluation: Evaluation) -> LossRecord:
        record = LossRecord(
            self.step_count,
            self.sampler.epoch,
            evaluation.train_loss,
            evaluation.test_loss,
            evaluation.train_penalty,
            self.learning_rate,
            self.gradient_monitor.collect(),
        )
        history = append_record(self.history, record)
        if history is not self.history:
            self.history = history
            self.history_generation += 1
        return record

    def layer_snapshots(self) -> list[LayerSnapshot]:
        def array(t: torch.Tensor | None) -> np.ndarray | None:
            return None if t is None else t.detach().numpy().copy()

        snapshots = []
        for layer in self.model.layers:
            assert isinstance(layer, nn.Linear)
            snapshots.append(
                LayerSnapshot(
                    layer.weight.detach().numpy().copy(),
                    layer.bias.detach().numpy().copy(),
                    array(layer.weight.grad),
                    array(layer.bias.grad),
                )
            )
        return snapshots

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def input_grid(resolution: int) -> torch.Tensor:
        """Grid points over [-extent, extent]², row-major with row 0 at the top (largest x₂).

        Cached (every frame asks for the same two or three): callers must not modify it."""
        axis = torch.linspace(-INPUT_EXTENT, INPUT_EXTENT, resolution)
        x2, x1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
        return torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)

    def squash(self, output: torch.Tensor) -> torch.Tensor:
        """The output activation the loss implies: sigmoid, softmax or identity."""
        return self.task.squash(output)

    @torch.no_grad()
    def predict(self, points: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden layer's activations and the squashed output at `points` (n, 2)."""
        outputs = self.model.forward_all(points)
        outputs[-1] = self.squash(outputs[-1])
        return outputs

    @torch.no_grad()
    def predict_grid(self, resolution: int) -> np.ndarray:
        """The picture under the data: P(class 1) (binary), the prediction (regression), or
        the winning class's probability (multi-class; see class_grids for each class)."""
        out = self.squash(self.model(self.input_grid(resolution)))
        if self.data.task == "multiclass":
            out = out.max(dim=1).values
        return out.reshape(resolution, resolution).numpy()

    @torch.no_grad()
    def class_grids(self, resolution: int) -> np.ndarray:
        """P(class k) over the plane: (classes, res, res)."""
        out = self.squash(self.model(self.input_grid(resolution)))
        return out.T.reshape(-1, resolution, resolution).numpy()

    @torch.no_grad()
    def predict_curve(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The model along x₁ with x₂ = 0: the fitted curve of a 1-D regression."""
        x1 = torch.linspace(-INPUT_EXTENT, INPUT_EXTENT, n)
        points = torch.stack([x1, torch.zeros(n)], dim=1)
        return x1.numpy(), self.squash(self.model(points))[:, 0].numpy()

    @torch.no_grad()
    def neuron_grids(self, resolution: int) -> list[np.ndarray]:
        """Each layer's neuron outputs over the plane: [layer] → (neurons, res, res)."""
        outputs = self.predict(self.input_grid(resolution))
        return [o.T.reshape(-1, resolution, resolution).numpy() for o in outputs]

    def prelu_slopes(self) -> list[float | None]:
        """Each hidden layer's learnt PReLU slope, None where the layer is not PReLU."""
        return [
            float(self.model.prelu[str(i)].item()) if name == "prelu" else None
            for i, name in enumerate(self.model.activations)
        ]
