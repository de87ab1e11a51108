"""The trainer: one learner's run — data, model, optimizer — and the tutorial's training step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from time import perf_counter

import torch
from torch import nn

from app.training.batches import BatchSampler, batch_seed
from app.training.change import SettingsChange
from app.training.checkpoints import load_checkpoint, save_checkpoint
from app.training.config import DataConfig, LabConfig, ModelConfig
from app.training.datasets import Dataset, make_dataset
from app.training.divergence import Divergence, Verdict, judge_step, parameter_problem
from app.training.evaluation import Evaluation, Evaluator
from app.training.grad_monitor import GradientMonitor
from app.training.history import Run, Timeline
from app.training.lean_step import clear_gradients, optimizer_step
from app.training.live_settings import LiveSettings
from app.training.loss_log import LossRecord, append_record
from app.training.model import MLP, build_model
from app.training.optimizers import (
    LRScheduler,
    build_optimizer,
    build_scheduler,
    effective_learning_rate,
)
from app.training.point_edits import edit_points
from app.training.readouts import Readouts
from app.training.state import TrainingState, capture, restore
from app.training.surgery import SurgeryLog
from app.training.task import TASKS


@dataclass
class BurstResult:
    steps: int
    evaluation: Evaluation
    divergence: Divergence | None


@dataclass
class TrainingSession(LiveSettings, Readouts, Evaluator):
    """Everything one learner's run needs; pure PyTorch, driven by whoever owns it."""

    config: LabConfig = field(default_factory=LabConfig)

    def __post_init__(self) -> None:
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
        self.data = data
        self.loss_fn: nn.Module = TASKS[data.task].new_loss()

    def _new_sampler(self) -> BatchSampler:
        # The batch order depends on both seeds, so same settings ⇒ the same run.
        seed = batch_seed(self.config.data.seed, self.config.model.seed)
        return BatchSampler(len(self.data.train_x), self.config.training.batch_size, seed)

    def _build_model(self, run_name: str | None = None) -> None:
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
        self.surgery = SurgeryLog()  # weights set and neurons switched by hand
        self.gradient_monitor = GradientMonitor(self.model)
        training = self.config.training
        self.optimizer = build_optimizer(training.optimizer, self.model.parameters(), training)
        self.scheduler: LRScheduler = build_scheduler(self.optimizer, training)
        self.last_grad_norm: float | None = None
        self.sampler = self._new_sampler()
        self.step_count = 0
        self.last_loss: float | None = None  # the last step's mini-batch loss
        self.timeline.start_over(self.config, self.history, run_name)
        # The state a divergence rolls back to: the start of the current burst.
        self.rollback_point: TrainingState | None = None
        self._start_history()

    def _start_history(self) -> None:
        self.history = []
        self.history_generation += 1
        evaluation = self.evaluate()
        self.divergence_reference = evaluation.train_loss
        self.record_losses(evaluation)

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
        self._start_history()

    def open_state(self, state: TrainingState, data: Dataset, name: str) -> None:
        """A run trained elsewhere on `data` (a sweep's cell) as a new run named `name`, at the
        state's step, to be trained on from there."""
        self.config = state.config
        self.set_data(data)
        self._build_model(name)
        restore(self, state)
        self._start_history()

    def use_points(self, data: Dataset) -> None:
        """The user's own points (an uploaded file): the run starts over on them at step 0."""
        self.set_data(data)
        self._build_model()

    def apply_change(self, change: SettingsChange) -> None:
        """Live settings (LiveSettings.apply_change). A new activation is a new function of
        the same weights: tanh-trained weights under ReLU can start at eight times the first
        loss, which is the learner's change, not divergence."""
        activations = self.config.model.activations_per_layer()
        super().apply_change(change)
        if self.config.model.activations_per_layer() != activations:
            self.accept_current_loss()

    def edit_points(
        self, add: list[tuple[float, float, float]], remove: list[tuple[float, float]]
    ) -> None:
        """Points drawn or removed by hand; the weights and the optimizer carry on (and the
        loss they may have jumped to is not divergence)."""
        self.data = edit_points(self.data, add, remove)
        seen = self.sampler.samples_seen
        self.sampler = self._new_sampler()
        self.sampler.samples_seen = seen
        self.accept_current_loss()

    def reset(self) -> None:
        """Same settings, fresh weights from the same seed: the run replays from step 0."""
        self._build_model()

    # ---- training ---------------------------------------------------------------------------

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sampler.next_batch(self.data.train_x, self.data.train_y)

    def compute_loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss that backward() differentiates: the data loss plus the penalty terms.

        The activation penalty reads the hidden activations of the forward pass that made
        `output` (the model keeps them while autograd records).
        """
        data_loss: torch.Tensor = self.loss_fn(output, y)
        penalty = self.penalty(self.model.hidden_outputs, len(output))
        return data_loss + penalty if isinstance(penalty, torch.Tensor) else data_loss

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
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        self.before_optimizer_step()
        optimizer_step(self.optimizer)  # optimizer.step(), likewise
        return self.finish_step(loss)

    def train_steps(
        self,
        max_steps: int,
        deadline: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Divergence | None:
        """Up to `max_steps` steps (or until `deadline`, a perf_counter time, or `stop()`).

        Stops at the first step judged diverged (divergence.py) and says so; a state that is
        no longer usable is rolled back to the burst's start.
        """
        self.keep_rollback_point()
        for _ in range(max_steps):
            loss = self.train_step()
            verdict = judge_step(
                self.step_count, loss, self.model, self.training_loss, self.divergence_reference
            )
            if verdict is not None:
                return self._diverged(verdict)
            if deadline is not None and perf_counter() >= deadline:
                break
            if stop is not None and stop():
                break
        return None

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
        return BurstResult(self.step_count - start, evaluation, divergence)

    def accept_current_loss(self) -> None:
        """Going on after a divergence, or after a change by hand that moved the loss: only a
        further doubling from here counts as divergence."""
        self.divergence_reference = max(self.divergence_reference, self.evaluate().train_loss)

    def _diverged(self, verdict: Verdict) -> Divergence:
        diverged_at = self.step_count
        if not verdict.roll_back:
            return Divergence(diverged_at, diverged_at, verdict.reason)
        point = self.rollback_point
        assert point is not None, "train_steps always keeps a rollback point first"
        restore(self, point)
        return Divergence(diverged_at, point.step, verdict.reason)

    # ---- the run's state and history --------------------------------------------------------

    def keep_rollback_point(self) -> None:
        """Capture the current state as the one a divergence rolls back to; the timeline keeps
        the same state to rewind to (and may start a branch of the loss log). A state whose
        weights are already unusable (a step's batch loss is finite even when the update it
        made overflowed) is neither: a divergence goes back to the last usable one."""
        if parameter_problem(self.model) is not None:
            return
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
        pace = self.config.training.steps_per_frame
        restore(self, state)
        self.surgery.rewind_to(self.model, state.step)
        # The pace is how the run is watched, not part of it: the one chosen now stays.
        training = self.config.training.model_copy(update={"steps_per_frame": pace})
        self.config = self.config.model_copy(update={"training": training})
        # The gradient figures gathered since the last record belong to the steps left behind.
        self.gradient_monitor.collect()
        return state

    def runs(self) -> list[Run]:
        """Every run kept, oldest first; the last is the current one (its records are live)."""
        return self.timeline.runs(self.history)

    def run(self, run_id: int) -> Run:
        """The run `run_id`; HistoryError if it is not kept."""
        return self.timeline.run(self.history, run_id)

    def record_losses(self, evaluation: Evaluation) -> LossRecord:
        """The evaluation as the loss log's record of this step (with the gradient figures
        gathered since the previous record)."""
        record = LossRecord.of(evaluation, self.step_count, self.sampler.epoch, self.learning_rate)
        record.gradients = self.gradient_monitor.collect()
        history = append_record(self.history, record)
        if history is not self.history:
            self.history = history
            self.history_generation += 1
        return record
