"""The tutorial's step one phase at a time, recording what each phase changed.

The stepper calls the session's own seams (next_batch, compute_loss, before_optimizer_step,
finish_step) in the order TrainingSession.train_step does, so five phases are bit-for-bit one
train_step: whatever a feature adds inside those methods is run here too, never copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from app.training.lean_step import clear_gradients, optimizer_step
from app.training.trainer import TrainingSession

Phase = Literal["zero_grad", "forward", "loss", "backward", "step"]
PHASES: tuple[Phase, ...] = ("zero_grad", "forward", "loss", "backward", "step")


@dataclass(frozen=True)
class LayerActivity:
    """One nn.Linear's forward values, averaged over the batch: z = W·in + b, a = what goes on."""

    pre_activations: np.ndarray
    activations: np.ndarray


@dataclass(frozen=True)
class LayerUpdate:
    """What optimizer.step() did to one nn.Linear: values before, and the change after − before."""

    weights_before: np.ndarray
    biases_before: np.ndarray
    weight_deltas: np.ndarray
    bias_deltas: np.ndarray


@dataclass
class PhaseRecord:
    """Everything known about the step in progress, after the phase `done`."""

    done: Phase
    step: int
    zero_grad_skipped: bool = False
    activity: list[LayerActivity] | None = None
    loss: float | None = None
    # After backward: each layer's ∂L/∂z, the batch mean of the gradient that reached its
    # pre-activation (None for a layer autograd did not reach, e.g. a frozen first layer).
    pre_activation_grads: list[np.ndarray | None] | None = None
    updates: list[LayerUpdate] | None = None

    @property
    def next(self) -> Phase:
        return PHASES[(PHASES.index(self.done) + 1) % len(PHASES)]


@dataclass
class PhaseStepper:
    """Drives one TrainingSession a phase at a time; its full-speed path is left untouched."""

    session: TrainingSession
    skip_zero_grad: bool = False
    record: PhaseRecord | None = None
    _model: nn.Module | None = field(default=None, repr=False)
    _x: torch.Tensor | None = field(default=None, repr=False)
    _y: torch.Tensor | None = field(default=None, repr=False)
    _output: torch.Tensor | None = field(default=None, repr=False)
    _loss: torch.Tensor | None = field(default=None, repr=False)
    _z_grads: list[np.ndarray | None] = field(default_factory=list, repr=False)

    @property
    def pending(self) -> bool:
        """True between zero_grad and step of the same model: a step is half done."""
        return (
            self.record is not None
            and self.record.done != "step"
            and self._model is self.session.model
        )

    @property
    def next_phase(self) -> Phase:
        return self.record.next if self.pending and self.record else "zero_grad"

    @property
    def loss_tensor(self) -> torch.Tensor | None:
        """The loss of the step in progress (with its autograd graph), once computed."""
        return self._loss if self._model is self.session.model else None

    def current(self) -> PhaseRecord | None:
        """The latest record while it still describes the session (no step or rebuild since)."""
        r = self.record
        if r is None or self._model is not self.session.model:
            return None
        expected_step = r.step if r.done == "step" else r.step - 1
        return r if self.session.step_count == expected_step else None

    def advance(self) -> PhaseRecord:
        """Run the next phase and return what is known about the step so far."""
        phase = self.next_phase
        run = {
            "zero_grad": self._zero_grad,
            "forward": self._forward,
            "loss": self._compute_loss,
            "backward": self._backward,
            "step": self._step,
        }[phase]
        run()
        assert self.record is not None
        return self.record

    def finish_step(self) -> bool:
        """Run the rest of a half-done step (before Play or Step); False if none was pending."""
        if not self.pending:
            return False
        while self.pending:
            self.advance()
        return True

    def abandon(self) -> None:
        """Forget a half-done step (after a phase failed): the next phase is zero_grad."""
        self.record = None
        self._x = self._y = self._output = self._loss = None

    # ---- the five phases, each one line of train_step ---------------------------------------

    def _zero_grad(self) -> None:
        s = self.session
        self._model = s.model
        self._x, self._y = s.next_batch()
        self._output = self._loss = None
        if not self.skip_zero_grad:
            clear_gradients(s.optimizer)
        self.record = PhaseRecord(
            "zero_grad",
            s.step_count + 1,
            zero_grad_skipped=self.skip_zero_grad,
        )

    def _forward(self) -> None:
        assert self.record is not None and self._x is not None
        seen: list[tuple[torch.Tensor, torch.Tensor]] = []
        z_grads: list[np.ndarray | None] = []
        self._z_grads = z_grads

        def capture(_: nn.Module, inputs: tuple[torch.Tensor, ...], z: torch.Tensor) -> None:
            seen.append((inputs[0].detach().clone(), z.detach().clone()))
            z_grads.append(None)
            if z.requires_grad:
                # A tensor hook only reads the gradient flowing through z during backward();
                # it returns None, so every number autograd computes is left as it was.
                slot = len(z_grads) - 1

                def keep(grad: torch.Tensor) -> None:
                    z_grads[slot] = grad.detach().mean(0).numpy()

                z.register_hook(keep)  # type: ignore[no-untyped-call]  # unannotated in torch

        layers = list(self.session.model.layers)
        handles: list[RemovableHandle] = [layer.register_forward_hook(capture) for layer in layers]
        try:
            self._output = self.session.model(self._x)
        finally:
            for handle in handles:
                handle.remove()
        # What a layer passes on is exactly what the next layer received; the output is its z.
        activity = []
        for i, (_, z) in enumerate(seen):
            a = seen[i + 1][0] if i + 1 < len(seen) else z
            activity.append(LayerActivity(z.mean(0).numpy(), a.mean(0).numpy()))
        self.record.done = "forward"
        self.record.activity = activity

    def _compute_loss(self) -> None:
        assert self.record is not None and self._output is not None and self._y is not None
        self._loss = self.session.compute_loss(self._output, self._y)
        self.record.done = "loss"
        self.record.loss = self._loss.item()

    def _backward(self) -> None:
        assert self.record is not None and self._loss is not None
        self._loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
        self.record.done = "backward"
        self.record.pre_activation_grads = list(self._z_grads)

    def _step(self) -> None:
        assert self.record is not None and self._loss is not None
        s = self.session
        layers = [layer for layer in s.model.layers if isinstance(layer, nn.Linear)]
        before = [(ly.weight.detach().clone(), ly.bias.detach().clone()) for ly in layers]
        # Gradient clipping and the like: part of this phase, so `backward` shows raw gradients.
        s.before_optimizer_step()
        optimizer_step(s.optimizer)
        s.finish_step(self._loss)
        self.record.updates = [
            LayerUpdate(
                w0.numpy(),
                b0.numpy(),
                (ly.weight.detach() - w0).numpy(),
                (ly.bias.detach() - b0).numpy(),
            )
            for ly, (w0, b0) in zip(layers, before, strict=True)
        ]
        self.record.done = "step"
        self.record.step = s.step_count
