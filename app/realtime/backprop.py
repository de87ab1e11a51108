"""Phase stepping, the autograd graph and the code listing of one live session, as messages.

Everything here that touches the engine runs on the worker thread under the session's engine
lock (step, finish, refresh); `unsent` only reads the finished messages on the event loop.
"""

from __future__ import annotations

import math
import time

import torch

from app.protocol import (
    AutogradEdge,
    AutogradGraphFrame,
    AutogradNode,
    CodeListing,
    LayerActivity,
    LayerUpdate,
    PhaseState,
    ServerModel,
)
from app.realtime.wire import finite_or_none
from app.training.autograd_graph import AutogradGraph, walk_autograd_graph
from app.training.code_export import export_training_script
from app.training.config import LabConfig, TrainingConfig
from app.training.phases import PhaseRecord, PhaseStepper
from app.training.session import TrainingSession
from app.training.surgery import Surgery

# The autograd graph's shape does not depend on the batch: a few points are enough to draw it.
GRAPH_PROBE_POINTS = 4
# While a run plays, its listing follows its settings at most this often: with a class, some
# learner's rate changes every few milliseconds, and each listing is written anew.
PLAYING_CODE_REFRESH_SECONDS = 0.25


def phase_state(record: PhaseRecord, skip_zero_grad: bool) -> PhaseState:
    return PhaseState(
        done=record.done,
        next=record.next,
        step=record.step,
        skip_zero_grad=skip_zero_grad,
        zero_grad_skipped=record.zero_grad_skipped,
        loss=finite_or_none(record.loss),
        activity=None
        if record.activity is None
        else [
            LayerActivity(
                pre_activations=a.pre_activations.tolist(), activations=a.activations.tolist()
            )
            for a in record.activity
        ],
        pre_activation_grads=None
        if record.pre_activation_grads is None
        else [
            None if g is None else [finite_or_none(float(v)) for v in g]
            for g in record.pre_activation_grads
        ],
        updates=None
        if record.updates is None
        else [
            LayerUpdate(
                weights_before=u.weights_before.tolist(),
                biases_before=u.biases_before.tolist(),
                weight_deltas=u.weight_deltas.tolist(),
                bias_deltas=u.bias_deltas.tolist(),
            )
            for u in record.updates
        ],
    )


def autograd_frame(graph: AutogradGraph) -> AutogradGraphFrame:
    return AutogradGraphFrame(
        nodes=[
            AutogradNode(
                id=n.id,
                name=n.name,
                depth=n.depth,
                parameter=n.parameter,
                shape=None if n.shape is None else list(n.shape),
                grad_norm=finite_or_none(n.grad_norm),
            )
            for n in graph.nodes
        ],
        edges=[AutogradEdge(source=s, target=t) for s, t in graph.edges],
        has_gradients=graph.has_gradients,
    )


def _graph_settings(training: TrainingConfig) -> tuple[object, ...]:
    return tuple(value for name, value in training if name != "learning_rate")


class BackpropChannel:
    """Owns a session's PhaseStepper and the latest autograd graph and code listing."""

    def __init__(self, engine: TrainingSession) -> None:
        self.engine = engine
        self.stepper = PhaseStepper(engine)
        self.versions = {"autograd": 0, "code": 0}
        self._autograd: AutogradGraphFrame | None = None
        self._autograd_key: object = None
        self._quick_key: object = None
        self._progress: object = None
        self._code: CodeListing | None = None
        self._code_config: tuple[LabConfig, tuple[Surgery, ...]] | None = None
        self._code_written_at = -math.inf

    # ---- on the worker thread -----------------------------------------------------------

    def step_phase(self) -> str | None:
        """Run the next phase; what went wrong, if torch refused it (say, every layer frozen:
        a loss with no grad_fn cannot go backward). The half-done step is then abandoned."""
        phase = self.stepper.next_phase
        try:
            record = self.stepper.advance()
        except RuntimeError as error:
            self.stepper.abandon()
            return f"{phase} failed: {error}; the step was abandoned"
        if record.done == "step":
            self.engine.record_losses(self.engine.evaluate())
        return None

    def finish_step(self) -> bool:
        """Complete a half-done step (Play and Step do this first); True if there was one."""
        try:
            if not self.stepper.finish_step():
                return False
        except RuntimeError:
            return False  # the full-speed path meets the same refusal and reports it
        self.engine.record_losses(self.engine.evaluate())
        return True

    def refresh(self, running: bool) -> PhaseState | None:
        """Bring the graph and the code up to date; the phase state for this frame."""
        self._refresh_code(running)
        self._refresh_autograd(running)
        record = self.stepper.current()
        return None if record is None else phase_state(record, self.stepper.skip_zero_grad)

    def _refresh_code(self, running: bool) -> None:
        config = self.engine.config
        # The hand edits are part of the run the script replays.
        edits = tuple(self.engine.surgery.edits)
        if (config, edits) == self._code_config:
            return
        now = time.monotonic()
        if running and now - self._code_written_at < PLAYING_CODE_REFRESH_SECONDS:
            return  # a later frame writes it: a playing run has one every frame interval
        export = export_training_script(config, edits=edits)
        self._code_config = (config, edits)
        self._code_written_at = now
        self._code = CodeListing(source=export.source, phase_lines=export.phase_lines)
        self.versions["code"] += 1

    def _refresh_autograd(self, running: bool) -> None:
        model = self.engine.model
        # The graph's structure changes only with the model, the config (activations,
        # freezing, training settings; replaced on a change, never edited) or a hand edit:
        # while those stay, a running frame skips reading every parameter's shape.
        quick_key = (id(model), self.engine.config, len(self.engine.surgery.edits))
        if running and quick_key == self._quick_key:
            return
        self._quick_key = quick_key
        structure = (
            id(model),
            tuple(tuple(p.shape) for p in model.parameters()),
            tuple(p.requires_grad for p in model.parameters()),
            tuple(getattr(model, "activations", ())),
            # The training settings but the learning rate, which draws no node: with a class
            # it changes every few milliseconds, and each walk of the graph took a forward.
            _graph_settings(self.engine.config.training),
        )
        # Paused, gradient norms follow every step and phase; running, only a new structure.
        if not running:
            record = self.stepper.record
            self._progress = (self.engine.step_count, record and record.done)
        key = (structure, self._progress)
        if key == self._autograd_key:
            return
        self._autograd_key = key
        loss = self.stepper.loss_tensor
        graph = walk_autograd_graph(loss, model) if loss is not None else self._probe_graph()
        self._autograd = autograd_frame(graph)
        self.versions["autograd"] += 1

    def _probe_graph(self) -> AutogradGraph:
        """The graph of a forward and loss on a few training points, which leaves no trace:
        whatever compute_loss or forward remember (penalty inputs, last losses) is put back,
        so a half-done phase step goes on exactly as if no probe had run."""
        engine, model, data = self.engine, self.engine.model, self.engine.data
        saved_engine, saved_model = dict(vars(engine)), dict(vars(model))
        try:
            with torch.enable_grad():
                output = model(data.train_x[:GRAPH_PROBE_POINTS])
                loss = engine.compute_loss(output, data.train_y[:GRAPH_PROBE_POINTS])
            return walk_autograd_graph(loss, model)
        finally:
            vars(engine).update(saved_engine)
            vars(model).update(saved_model)

    # ---- on the event loop --------------------------------------------------------------

    def unsent(self, sent: dict[str, int]) -> list[ServerModel]:
        """The graph and the code if this page has not seen their latest version."""
        out: list[ServerModel] = []
        for name, message in (("code", self._code), ("autograd", self._autograd)):
            if message is not None and sent.get(name) != self.versions[name]:
                sent[name] = self.versions[name]
                out.append(message)
        return out
