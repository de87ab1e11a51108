"""One image run: the tutorial's five-phase loop on digits, and what the views read from it.

Training is in train mode (dropout drops, batch norm uses the batch and updates its running
statistics); everything measured on the test images is in eval mode, as a PyTorch script would
do it, so the test loss and the confusion matrix are the model a learner would deploy.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from app.training.batches import BatchSampler, batch_seed
from app.training.grad_monitor import GradientStats
from app.training.images.config import ImageLabConfig
from app.training.images.digits import N_CLASSES, SIDE, ImageDataset, load_digits
from app.training.images.network import build_image_model, first_layer, stage_outputs
from app.training.images.snapshot import ImageSnapshot, snapshot_bytes
from app.training.optimizers import LRScheduler, apply_options, build_optimizer, build_scheduler
from app.training.phases import PHASES, Phase


@dataclass(frozen=True)
class Evaluation:
    """The model in eval mode on every test image."""

    test_loss: float
    test_accuracy: float
    predictions: torch.Tensor  # (n_test,) class ids
    confusion: torch.Tensor  # (10, 10) int64: row = true class, column = predicted


@dataclass(frozen=True)
class Filters:
    """The weights that look at pixels, one small image each, and their ∂L/∂W (zeros before
    any backward): conv1's kernels (C, k, k), or an MLP's first-layer rows as 8×8 images."""

    weights: torch.Tensor
    grads: torch.Tensor
    layer: str


@dataclass(frozen=True)
class Inspection:
    """What the model makes of one image: its softmax, every stage's output, and the saliency
    ∂L/∂pixel for the class asked (the predicted class when none is)."""

    probabilities: torch.Tensor  # (10,)
    stages: list[tuple[str, torch.Tensor]]  # one image's outputs, batch dimension removed
    saliency: torch.Tensor  # (8, 8)
    target: int


@dataclass(frozen=True)
class WeightCheck:
    """∂L/∂w of one first-layer weight for one training image, by autograd (float32, as
    training computes it) and by a central finite difference (float64). In eval mode: one image
    has no batch statistics, and dropout would make the loss a different function each call."""

    sample: int
    label: int
    weight: str
    value: float
    loss: float
    autograd: float
    numeric: float
    step_size: float


# Central difference step in float64: truncation ~1e-12, rounding ~1e-10 here.
FINITE_DIFFERENCE_STEP = 1e-6


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """Counts of (true, predicted) pairs as a 10×10 table."""
    flat = true.to(torch.int64) * N_CLASSES + predicted.to(torch.int64)
    return torch.bincount(flat, minlength=N_CLASSES * N_CLASSES).reshape(N_CLASSES, N_CLASSES)


class ImageRun:
    def __init__(self, config: ImageLabConfig, data: ImageDataset | None = None) -> None:
        self.config = config
        self.data = data or load_digits(config.data.train_fraction, config.data.seed)
        self.model = build_image_model(config.model)
        self.loss_fn = nn.CrossEntropyLoss()
        t = config.training
        self.optimizer = build_optimizer(t.optimizer, self.model.parameters(), t)
        self.scheduler: LRScheduler = build_scheduler(self.optimizer, t)
        self.sampler = BatchSampler(
            len(self.data.train_x), t.batch_size, batch_seed(config.data.seed, config.model.seed)
        )
        # Dropout draws from torch's global generator: the run keeps its own state of it, so
        # its masks (and so its losses) do not depend on what else ran on the thread.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(batch_seed(config.model.seed, config.data.seed))
            self._rng_state = torch.get_rng_state()
        self.step_count = 0
        self.last_loss = math.nan
        # The step in progress, phase by phase (phase_done None: none begun yet).
        self.phase_done: Phase | None = None
        self._batch: tuple[torch.Tensor, torch.Tensor] = (
            self.data.train_x[:0],
            self.data.train_y[:0],
        )
        self._output: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self._stepped = False
        self._weights_before: list[torch.Tensor] = []

    @property
    def epoch(self) -> float:
        return self.sampler.epoch

    def step(self) -> float:
        """One optimizer step: the phases left of the step in progress, or all five."""
        while True:
            phase = self.step_phase()
            if phase == "step":
                return self.last_loss if self._stepped else math.nan

    def step_phase(self) -> Phase:
        """Run the next phase of the tutorial's loop; returns which one ran. Step() is these
        five in order, so a run stepped phase by phase is bit for bit the run played."""
        phase = self.next_phase
        {
            "zero_grad": self._zero_grad,
            "forward": self._forward,
            "loss": self._compute_loss,
            "backward": self._backward,
            "step": self._optimizer_step,
        }[phase]()
        self.phase_done = phase
        return phase

    @property
    def next_phase(self) -> Phase:
        if self.phase_done in (None, "step"):
            return PHASES[0]
        return PHASES[PHASES.index(self.phase_done) + 1]

    @property
    def mid_step(self) -> bool:
        return self.phase_done not in (None, "step")

    def _zero_grad(self) -> None:
        self._batch = self.sampler.next_batch(self.data.train_x, self.data.train_y)
        self.optimizer.zero_grad()
        self._output = self._loss = None

    def _forward(self) -> None:
        self.model.train()
        # Dropout draws from torch's global generator: the run keeps its own state of it.
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_state)
            self._output = self.model(self._batch[0])
            self._rng_state = torch.get_rng_state()

    def _compute_loss(self) -> None:
        assert self._output is not None
        self._loss = self.loss_fn(self._output, self._batch[1])
        self.last_loss = self._loss.item()

    def _backward(self) -> None:
        assert self._loss is not None
        self._loss.backward()  # type: ignore[no-untyped-call]

    def _optimizer_step(self) -> None:
        self._stepped = self._finite_gradients()
        if not self._stepped:
            # Diverged: the step that would write NaN/inf into the weights is not taken, so the
            # last finite weights stay (the run is over until its settings change).
            return
        if self.config.training.grad_clip_norm > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.training.grad_clip_norm)
        # For ‖Δw‖/‖w‖ (a few thousand numbers: ~1 % of a step).
        self._weights_before = [w.detach().clone() for _, w in self.weight_layers()]
        self.optimizer.step()
        self.scheduler.step()
        self.step_count += 1

    def _finite_gradients(self) -> bool:
        if not math.isfinite(self.last_loss):
            return False
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        return bool(torch.stack([g.abs().max() for g in grads]).isfinite().all())

    def current_loss(self) -> torch.Tensor | None:
        """The loss of the step in progress (after its loss phase), graph and all."""
        return self._loss

    def train(self, steps: int) -> list[float]:
        return [self.step() for _ in range(steps)]

    def set_training(self, config: ImageLabConfig) -> None:
        """Live knobs (learning rate, momentum, betas, weight decay…): the weights and the
        optimizer's state are kept; a new optimizer kind starts its state afresh."""
        old, new = self.config.training, config.training
        self.config = config
        if new.optimizer != old.optimizer:
            self.optimizer = build_optimizer(new.optimizer, self.model.parameters(), new)
        else:
            apply_options(self.optimizer, new.optimizer, new)
        if new.learning_rate != old.learning_rate or new.optimizer != old.optimizer:
            self.scheduler = build_scheduler(self.optimizer, new)
        self.sampler.set_batch_size(new.batch_size)

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        self.model.eval()
        output = self.model(self.data.test_x)
        loss = self.loss_fn(output, self.data.test_y).item()
        predicted = output.argmax(dim=1)
        accuracy = (predicted == self.data.test_y).float().mean().item()
        return Evaluation(loss, accuracy, predicted, confusion_matrix(self.data.test_y, predicted))

    def filters(self) -> Filters:
        layer = first_layer(self.model)
        weight = layer.weight.detach()
        grad = layer.weight.grad
        grads = torch.zeros_like(weight) if grad is None else grad.detach()
        if isinstance(layer, nn.Conv2d):
            # One input channel (grey pixels): each kernel is one k×k image.
            return Filters(weight[:, 0].clone(), grads[:, 0].clone(), "conv1")
        return Filters(
            weight.reshape(-1, SIDE, SIDE).clone(), grads.reshape(-1, SIDE, SIDE).clone(), "first"
        )

    def inspect(self, image: torch.Tensor, target: int | None = None) -> Inspection:
        """`image` (8, 8) in [0, 1]: eval mode, and the model's own gradients are left alone
        (the saliency differentiates with respect to the pixels only)."""
        self.model.eval()
        pixels = image.reshape(1, 1, SIDE, SIDE).detach().clone().requires_grad_(True)
        outputs = stage_outputs(self.model, pixels)
        logits = outputs[-1][1]
        probabilities = torch.softmax(logits, dim=1)[0].detach()
        chosen = int(probabilities.argmax()) if target is None else target
        loss = self.loss_fn(logits, torch.tensor([chosen]))
        (saliency,) = torch.autograd.grad(loss, pixels)
        stages = [(name, out[0].detach()) for name, out in outputs]
        return Inspection(probabilities, stages, saliency.reshape(SIDE, SIDE), chosen)

    def test_images_in_cell(self, true: int, predicted: int, evaluation: Evaluation) -> list[int]:
        """Positions in the test set of the images with label `true` predicted as `predicted`."""
        hits = (self.data.test_y == true) & (evaluation.predictions == predicted)
        return [int(i) for i in torch.nonzero(hits).flatten()]

    def check_first_layer_weight(self, sample: int, unit: int, row: int, col: int) -> WeightCheck:
        """One sample by hand: weight [unit, row, col] of conv1's kernels (or of an MLP's
        first-layer row drawn as an 8×8 image)."""
        layer_name = "conv1" if self.config.model.conv_blocks else "dense1.linear"
        if not self.config.model.conv_blocks and not self.config.model.hidden_layers:
            layer_name = "output"
        x = self.data.train_x[sample : sample + 1]
        y = self.data.train_y[sample : sample + 1]

        def index_in(weight: torch.Tensor) -> tuple[int, ...]:
            if weight.dim() == 4:
                return (unit, 0, row, col)
            return (unit, row * SIDE + col)

        model = copy.deepcopy(self.model).eval()
        weight = model.get_parameter(f"{layer_name}.weight")
        where = index_in(weight)
        loss = self.loss_fn(model(x), y)
        (grad,) = torch.autograd.grad(loss, weight)
        wide = copy.deepcopy(self.model).double().eval()
        wide_weight = wide.get_parameter(f"{layer_name}.weight")

        def loss_at(value: float) -> float:
            with torch.no_grad():
                wide_weight[where] = value
                return float(self.loss_fn(wide(x.double()), y))

        original = float(wide_weight.detach()[where])
        h = FINITE_DIFFERENCE_STEP
        numeric = (loss_at(original + h) - loss_at(original - h)) / (2 * h)
        return WeightCheck(
            sample=sample,
            label=int(y[0]),
            weight=f"{layer_name}.weight[{', '.join(map(str, where))}]",
            value=float(weight.detach()[where]),
            loss=loss.item(),
            autograd=float(grad[where]),
            numeric=numeric,
            step_size=h,
        )

    def snapshot(self) -> ImageSnapshot:
        """The run now, copied, for the timeline; only between two steps (a step taken phase by
        phase has drawn its batch and its dropout masks already)."""
        assert not self.mid_step, "a snapshot is taken between two steps"
        model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        optimizer_state = copy.deepcopy(self.optimizer.state_dict())
        rng = self._rng_state.clone()
        return ImageSnapshot(
            config=self.config,
            step=self.step_count,
            model_state=model_state,
            optimizer_state=optimizer_state,
            scheduler_state=copy.deepcopy(self.scheduler.state_dict()),
            sampler=self.sampler.position(),
            dropout_rng_state=rng,
            nbytes=snapshot_bytes(model_state, optimizer_state, rng),
        )

    def restore(self, snapshot: ImageSnapshot) -> None:
        """Back to `snapshot` (of this run's model and data): its training settings, weights,
        running statistics, optimizer, schedule, batch order, dropout state and step. A step in
        progress is dropped."""
        t = snapshot.config.training
        if t.optimizer != self.config.training.optimizer:
            self.optimizer = build_optimizer(t.optimizer, self.model.parameters(), t)
        self.config = snapshot.config
        self.model.load_state_dict(snapshot.model_state)
        # The scheduler first: building one writes the base rate into the groups, which the
        # optimizer's own state then puts back as it was. Copies: load_state_dict adopts the
        # tensors it is given, and the snapshot keeps these.
        self.scheduler = build_scheduler(self.optimizer, t)
        self.optimizer.load_state_dict(copy.deepcopy(snapshot.optimizer_state))
        self.scheduler.load_state_dict(copy.deepcopy(snapshot.scheduler_state))
        self.sampler.seek(snapshot.sampler)
        self._rng_state = snapshot.dropout_rng_state.clone()
        self.step_count = snapshot.step
        self.model.zero_grad(set_to_none=True)
        self.last_loss = math.nan
        self.phase_done = None
        self._output = self._loss = None
        self._stepped = False
        self._weights_before = []

    def load_weights(self, state: dict[str, torch.Tensor], step: int) -> None:
        """Weights from a model file (checked by model_file.py); the optimizer starts afresh."""
        self.model.load_state_dict(state)
        self.step_count = step

    def weight_layers(self) -> list[tuple[str, torch.Tensor]]:
        """Every Conv2d's and Linear's weight, in order, named as the page names the stages."""
        return [
            (name.removesuffix(".linear"), module.weight)
            for name, module in self.model.named_modules()
            if isinstance(module, nn.Conv2d | nn.Linear)
        ]

    def gradient_stats(self) -> GradientStats | None:
        """The last step's figures per weight layer (None before any step)."""
        layers = self.weight_layers()
        if len(self._weights_before) != len(layers) or any(w.grad is None for _, w in layers):
            return None
        grads = [w.grad.detach() for _, w in layers if w.grad is not None]
        with torch.no_grad():
            update = [
                float((w - before).norm() / w.norm().clamp_min(1e-12))
                for (_, w), before in zip(layers, self._weights_before, strict=True)
            ]
        return GradientStats(
            steps=1,
            grad_norm=np.array([float(g.norm()) for g in grads]),
            mean_abs_grad=np.array([float(g.abs().mean()) for g in grads]),
            max_abs_grad=np.array([float(g.abs().max()) for g in grads]),
            update_ratio=np.array(update),
        )

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())
