"""A training session: owns the data, the model and the optimizer, and runs the tutorial's step."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np
import torch
from torch import nn

from app.training.batches import BatchSampler
from app.training.config import DataConfig, LabConfig, ModelConfig, OptimizerName
from app.training.datasets import INPUT_EXTENT, Dataset, make_dataset
from app.training.model import MLP, ActivationName, build_model
from app.training.optimizers import build_optimizer, set_learning_rate, set_momentum

# Past this a run is called diverged even while its loss is still finite: the weights are
# on their way to inf and every picture has stopped meaning anything.
DIVERGED_PARAMETER_MAGNITUDE = 1e6
# BCE with logits is numerically stable, so a far too high learning rate rarely makes NaN: the
# loss bounces above where it started instead. Twice the starting loss is not a wobble.
DIVERGED_LOSS_FACTOR = 2.0
# The loss history keeps every frame's point up to this many, then keeps every other one.
MAX_HISTORY_POINTS = 10_000


@dataclass(frozen=True)
class Evaluation:
    train_loss: float
    test_loss: float
    train_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class LayerSnapshot:
    weights: np.ndarray
    biases: np.ndarray
    weight_grads: np.ndarray | None
    bias_grads: np.ndarray | None


@dataclass
class LossRecord:
    step: int
    epoch: float
    train: float
    test: float


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
class _Checkpoint:
    step: int
    samples_seen: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, object]


@dataclass
class TrainingSession:
    """Everything one learner's run needs; pure PyTorch, driven by whoever owns it."""

    config: LabConfig = field(default_factory=LabConfig)

    def __post_init__(self) -> None:
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.history: list[LossRecord] = []
        # Bumped whenever `history` is replaced rather than appended to (rebuild, thinning).
        self.history_generation = 0
        self._build_data()
        self._build_model()

    # ---- building ---------------------------------------------------------------------------

    def _build_data(self) -> None:
        d = self.config.data
        self.data: Dataset = make_dataset(d.dataset, d.n_points, d.noise, d.train_fraction, d.seed)

    def _build_model(self) -> None:
        m = self.config.model
        self.model: MLP = build_model(2, list(m.hidden_layers), m.activation, m.init, m.seed)
        self.optimizer = self._new_optimizer(self.config.training.optimizer)
        # The batch order depends on both seeds, so same settings ⇒ the same run.
        self.sampler = BatchSampler(
            len(self.data.train_x),
            self.config.training.batch_size,
            seed=self.config.data.seed * 1_000_003 + m.seed,
        )
        self.step_count = 0
        self.last_loss: float | None = None
        self.history = []
        self.history_generation += 1
        self._checkpoint: _Checkpoint | None = None
        self.initial_evaluation = self.evaluate()
        self.divergence_reference = self.initial_evaluation.train_loss
        self.record_losses(self.initial_evaluation)

    def _new_optimizer(self, name: OptimizerName) -> torch.optim.Optimizer:
        t = self.config.training
        return build_optimizer(name, self.model.parameters(), t.learning_rate, t.momentum)

    def rebuild(self, data: DataConfig | None = None, model: ModelConfig | None = None) -> None:
        """New data and/or a new network: the run starts over at step 0."""
        self.config = self.config.model_copy(
            update={"data": data or self.config.data, "model": model or self.config.model}
        )
        if data is not None:
            self._build_data()
        self._build_model()

    def reset(self) -> None:
        """Same settings, fresh weights from the same seed: the run replays from step 0."""
        self._build_model()

    # ---- live knobs: the weights are kept ---------------------------------------------------

    def set_learning_rate(self, learning_rate: float) -> None:
        self._update_training(learning_rate=learning_rate)
        set_learning_rate(self.optimizer, learning_rate)

    def set_momentum(self, momentum: float) -> None:
        self._update_training(momentum=momentum)
        set_momentum(self.optimizer, momentum)

    def set_batch_size(self, batch_size: int) -> None:
        self._update_training(batch_size=batch_size)
        self.sampler.set_batch_size(batch_size)

    def set_optimizer(self, name: OptimizerName) -> None:
        """A new optimizer on the same parameters; its state (momentum, m, v) starts empty."""
        self._update_training(optimizer=name)
        self.optimizer = self._new_optimizer(name)

    def set_activation(self, activation: ActivationName) -> None:
        self.config = self.config.model_copy(
            update={"model": self.config.model.model_copy(update={"activation": activation})}
        )
        self.model.set_activation(activation)

    def _update_training(self, **changes: object) -> None:
        training = self.config.training.model_copy(update=changes)
        self.config = self.config.model_copy(update={"training": training})

    # ---- training ---------------------------------------------------------------------------

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        indices = self.sampler.next()
        return self.data.train_x[indices], self.data.train_y[indices]

    def compute_loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss that backward() differentiates (penalty terms belong here too)."""
        return self.loss_fn(output, y)

    def finish_step(self, loss: torch.Tensor) -> float:
        """Bookkeeping after optimizer.step(): counters (and schedulers) advance here."""
        self.step_count += 1
        self.last_loss = loss.item()
        return self.last_loss

    def train_step(self) -> float:
        """One optimizer step on the next mini-batch: literally the tutorial's five lines.

        Anything a feature adds goes into next_batch / compute_loss / finish_step, which a
        phase-by-phase stepper calls in the same order, so both paths stay bit-identical.
        """
        x, y = self.next_batch()
        self.optimizer.zero_grad()
        output = self.model(x)
        loss = self.compute_loss(output, y)
        loss.backward()
        self.optimizer.step()
        return self.finish_step(loss)

    def checkpoint(self) -> None:
        """Remember the current state as the last known finite one (cheap: a few hundred floats)."""
        self._checkpoint = _Checkpoint(
            self.step_count,
            self.sampler.samples_seen,
            {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            copy.deepcopy(self.optimizer.state_dict()),
        )

    def train_steps(self, max_steps: int, deadline: float | None = None) -> Divergence | None:
        """Up to `max_steps` steps (or until `deadline`, a perf_counter time).

        Stops at the first sign of divergence, restores the last finite checkpoint and says so.
        """
        self.checkpoint()
        for _ in range(max_steps):
            loss = self.train_step()
            reason = self._divergence_reason(loss)
            if reason is not None:
                return self._restore(reason)
            if deadline is not None and perf_counter() >= deadline:
                break
        # A finite loss can still hide weights racing to inf; look once per burst.
        reason = self._parameter_divergence()
        return self._restore(reason) if reason else None

    def burst(self, max_steps: int, deadline: float | None = None) -> BurstResult:
        """Train, then evaluate on all points and record the losses: what one frame shows."""
        start = self.step_count
        divergence = self.train_steps(max_steps, deadline)
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
        cp = self._checkpoint
        assert cp is not None, "train_steps always checkpoints first"
        self.model.load_state_dict(cp.model_state)
        self.optimizer.load_state_dict(cp.optimizer_state)  # type: ignore[arg-type]
        self.step_count = cp.step
        self.sampler.samples_seen = cp.samples_seen
        self.model.zero_grad(set_to_none=True)
        return Divergence(diverged_at, cp.step, reason)

    # ---- reading the state ------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        d = self.data

        def loss_and_accuracy(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
            if len(x) == 0:
                return math.nan, math.nan
            logits = self.model(x)
            accuracy = ((logits > 0).float() == y).float().mean().item()
            return self.loss_fn(logits, y).item(), accuracy

        train_loss, train_acc = loss_and_accuracy(d.train_x, d.train_y)
        test_loss, test_acc = loss_and_accuracy(d.test_x, d.test_y)
        return Evaluation(train_loss, test_loss, train_acc, test_acc)

    def record_losses(self, evaluation: Evaluation) -> LossRecord:
        record = LossRecord(
            self.step_count, self.sampler.epoch, evaluation.train_loss, evaluation.test_loss
        )
        if self.history and self.history[-1].step == record.step:
            self.history[-1] = record
        else:
            self.history.append(record)
        if len(self.history) > MAX_HISTORY_POINTS:
            # A new list, not an in-place edit: readers on another thread hold the old one.
            self.history = self.history[::2] + ([record] if len(self.history) % 2 == 0 else [])
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
    def input_grid(resolution: int) -> torch.Tensor:
        """Grid points over [-extent, extent]², row-major with row 0 at the top (largest x₂)."""
        axis = torch.linspace(-INPUT_EXTENT, INPUT_EXTENT, resolution)
        x2, x1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
        return torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)

    @torch.no_grad()
    def predict_grid(self, resolution: int) -> np.ndarray:
        """P(class 1) over the input plane: the decision boundary's picture."""
        logits = self.model(self.input_grid(resolution))
        return torch.sigmoid(logits).reshape(resolution, resolution).numpy()

    @torch.no_grad()
    def neuron_grids(self, resolution: int) -> list[np.ndarray]:
        """Each layer's neuron outputs over the plane: [layer] → (neurons, res, res)."""
        outputs = self.model.forward_all(self.input_grid(resolution))
        outputs[-1] = torch.sigmoid(outputs[-1])
        return [o.T.reshape(-1, resolution, resolution).numpy() for o in outputs]
