"""Image runs of one shape stepped as one stacked computation: one vmapped forward/backward
and one stacked optimizer update, each run with its own batches, dropout masks and settings.

The parameters are stacked ([K, …], `torch.func.stack_module_state`) and every member's
parameters are views of its row, so the weights a frame reads are always current. The
gradients, optimizer state, schedule position and the weights before the last step live in
the group and are written back by `sync_out(run)`; anything that writes a run's state itself
(a phase step, a new optimizer, loading weights) needs the run out of the group first:
`leave()`, then `join()` again after. Batch order, dropout generator, step count and last
loss are the run's own and are moved on in place.

The optimizer update is the plane engine's (app/training/stacked/updates.py: torch's rules
over [K, …] rows with per-row hyper-parameters and masks); the schedules its closed forms.

Batch norm stays eager (`grouping_problem`): the bias of the conv or dense layer before a
batch norm has a true gradient of zero, which eager autograd gives as rounding noise (~1e-8)
and the vmapped backward as different noise. Adam, RMSprop and Adagrad divide that noise by
its own size and take full-rate steps in its direction, so that bias would walk elsewhere than
the eager run's (measured: relative error ~1 on those biases after one step).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from app.training.images.run import ImageRun
from app.training.stacked.schedule import Schedules, write_schedule
from app.training.stacked.settings import RunSettings, rows, run_settings
from app.training.stacked.transfer import stack_state, write_state
from app.training.stacked.updates import (
    RULES,
    SlotState,
    StepInputs,
    clip_per_run,
    finish_burst,
)


@dataclass(frozen=True)
class ImageShape:
    """Two image runs with equal shapes have the same computation: the same stages and
    parameter shapes, optimizer rule, batch size and loss. Everything else (seeds, data split,
    learning rate and schedule, momentum, betas, eps, weight decay, clipping, the dropout
    rate: each run's mask is drawn for it) is a per-run value inside the group."""

    conv_blocks: tuple[tuple[int, int, bool, bool], ...]  # channels, kernel, padding, pool
    hidden_layers: tuple[int, ...]
    activation: str
    dropout: bool
    residual: bool
    optimizer: str
    batch_size: int
    loss: str


def image_shape(run: ImageRun) -> ImageShape:
    model = run.config.model
    return ImageShape(
        conv_blocks=tuple(
            (block.channels, block.kernel_size, block.padding, block.pool)
            for block in model.conv_blocks
        ),
        hidden_layers=tuple(model.hidden_layers),
        activation=model.activation,
        dropout=model.dropout > 0,
        residual=model.residual,
        optimizer=run.config.training.optimizer,
        batch_size=run.sampler.batch_size,
        loss=type(run.loss_fn).__name__,
    )


def grouping_problem(run: ImageRun) -> str | None:
    """Why `run` must step alone, eagerly, or None when it can join a group."""
    if run.config.model.batchnorm:
        return "batch norm: the stacked backward cannot match the eager one (see the module)"
    if run.mid_step:
        return "a phase-by-phase step is half done"
    optimizer = run.optimizer
    if optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks:
        return "the optimizer has hooks"
    if len(optimizer.param_groups) != 1:
        return "the optimizer has more than one parameter group"
    return None


def _dropout_mask(run: ImageRun, batch: int, width: int) -> torch.Tensor:
    """The mask the eager forward would draw: nn.Dropout multiplies its input by
    bernoulli(1 − p) / (1 − p) drawn from the run's own generator state, so dropout applied
    to ones under that state is that mask, bit for bit, and the state moves on as it would."""
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(run._rng_state)
        mask = nn.functional.dropout(torch.ones(batch, width), run.config.model.dropout, True)
        run._rng_state = torch.get_rng_state()
    return mask


class ImageGroup:
    """K image runs of one shape; `train_steps(n)` equals n eager `step()`s of every member."""

    def __init__(self, runs: Sequence[ImageRun]) -> None:
        if not runs:
            raise ValueError("a group needs at least one run")
        self.shape = image_shape(runs[0])
        self.members: list[ImageRun] = []
        for run in runs:
            self._check(run)
            self.members.append(run)
        # A meta-device copy: the stages' code, with the group's rows as their parameters.
        self._template = copy.deepcopy(runs[0].model).to("meta")
        self._stage_slots = self._stage_parameters()
        self._build()

    def _check(self, run: ImageRun) -> None:
        problem = grouping_problem(run)
        if problem is not None:
            raise ValueError(f"the run cannot be grouped: {problem}")
        shape = image_shape(run)
        if shape != self.shape:
            raise ValueError(f"run shape {shape} does not match the group's {self.shape}")
        if any(member is run for member in self.members):
            raise ValueError("the run is already in this group")

    def _stage_parameters(self) -> list[tuple[str, nn.Module, list[tuple[str, int]]]]:
        """Per stage: its name, its module and (its own name, slot) for each parameter."""
        slot_of = {name: i for i, (name, _) in enumerate(self._template.named_parameters())}
        return [
            (
                stage_name,
                stage,
                [(own, slot_of[f"{stage_name}.{own}"]) for own, _ in stage.named_parameters()],
            )
            for stage_name, stage in self._template.named_children()
        ]

    # ---- membership -------------------------------------------------------------------------

    def join(self, *runs: ImageRun) -> None:
        """Take `runs` in between two steps."""
        for run in runs:
            self._check(run)
            if sum(other is run for other in runs) > 1:
                raise ValueError("the run is handed over twice")
        self._write_out_all()
        self.members.extend(runs)
        self._build()

    def leave(self, *runs: ImageRun) -> None:
        """Hand `runs` back whole: each carries on eagerly exactly where the group left it."""
        for run in runs:
            self._index(run)
        self._write_out_all()
        for run in runs:
            for p in run.model.parameters():
                p.data = p.data.clone()  # its own storage again, no longer a row of ours
        self.members = [m for m in self.members if not any(m is run for run in runs)]
        if self.members:
            self._build()

    def _index(self, run: ImageRun) -> int:
        for k, member in enumerate(self.members):
            if member is run:
                return k
        raise ValueError("the run is not in this group")

    def _write_out_all(self) -> None:
        for run in self.members:
            self.sync_out(run)

    def _build(self) -> None:
        """Stack every member's state into rows and point its parameters at them."""
        runs = self.members
        stacked, _ = stack_module_state([r.model for r in runs])
        self.params = [t.detach() for t in stacked.values()]
        self._params = [list(r.model.parameters()) for r in runs]
        for k, own in enumerate(self._params):
            for p, rows_of_p in zip(own, self.params, strict=True):
                p.data = rows_of_p[k]
        self.kind = self.shape.optimizer
        kinds = [self.kind] * len(runs)
        self.states: list[SlotState] = [
            stack_state(kinds, [r.optimizer for r in runs], [own[i] for own in self._params])
            for i in range(len(self.params))
        ]
        trainings = [r.config.training for r in runs]
        self.settings: RunSettings = run_settings(trainings)
        self.schedules = Schedules(trainings, [r.scheduler for r in runs])
        self.grads: list[torch.Tensor] | None = None
        weight_slots = {id(w) for _, w in runs[0].weight_layers()}
        self._weight_slots = [i for i, p in enumerate(self._params[0]) if id(p) in weight_slots]
        self._weights_before = self._read_weights_before()

    def _read_weights_before(self) -> list[torch.Tensor]:
        """The weights before each member's last step taken (its own rows when it has none)."""
        out = []
        for j, i in enumerate(self._weight_slots):
            out.append(
                torch.stack(
                    [
                        r._weights_before[j].clone()
                        if len(r._weights_before) == len(self._weight_slots)
                        else self.params[i][k].clone()
                        for k, r in enumerate(self.members)
                    ]
                )
            )
        return out

    # ---- reading a member -------------------------------------------------------------------

    def sync_out(self, run: ImageRun) -> None:
        """Write the group's view of a member into it: its last gradients, optimizer state,
        schedule and the weights before its last step (copies). Its weights are our rows."""
        k = self._index(run)
        for i, p in enumerate(self._params[k]):
            if self.grads is not None:
                p.grad = self.grads[i][k].clone()
            write_state(self.kind, self.states[i], k, run.optimizer, p)
        write_schedule(
            run.scheduler, float(self.schedules.position[k]), float(self.schedules.rates()[k])
        )
        run._weights_before = [before[k].clone() for before in self._weights_before]

    # ---- training ---------------------------------------------------------------------------

    def train_steps(self, n: int) -> torch.Tensor:
        """`n` steps of every member: [n, K] losses as each run's step() returns them (NaN
        for a step not taken: a non-finite loss or gradient, as the eager run skips it)."""
        losses = torch.empty(n, len(self.members), dtype=torch.float64)
        for i in range(n):
            losses[i] = self._step()
        return losses

    def _batches(self) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor | None]]:
        batches = [r.sampler.next_batch(r.data.train_x, r.data.train_y) for r in self.members]
        if not self.shape.dropout:
            return batches, [None] * len(batches)
        output = self._template.get_submodule("output")
        assert isinstance(output, nn.Linear)
        masks: list[torch.Tensor | None] = [
            _dropout_mask(r, len(b[1]), output.in_features)
            for r, b in zip(self.members, batches, strict=True)
        ]
        return batches, masks

    def _loss(
        self,
        params: tuple[torch.Tensor, ...],
        x: torch.Tensor,
        y: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """One run's loss on its batch from its parameters (called under vmap)."""
        for name, stage, slots in self._stage_slots:
            if name == "dropout":
                assert mask is not None
                x = x * mask  # as nn.Dropout: input times the run's own mask
            else:
                x = functional_call(stage, {local: params[i] for local, i in slots}, (x,))
        loss: torch.Tensor = nn.functional.cross_entropy(x, y)
        return loss

    def _gradients(
        self,
        batches: list[tuple[torch.Tensor, torch.Tensor]],
        masks: list[torch.Tensor | None],
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every member's gradients [K, …] per slot and losses [K]. A batch that ends an epoch
        may be shorter: the runs are stepped in one vmapped call per batch length (almost
        always one), so no padding enters a loss."""
        K = len(self.members)
        by_length: dict[int, list[int]] = {}
        for k, (_, y) in enumerate(batches):
            by_length.setdefault(len(y), []).append(k)
        step: Callable[..., tuple[tuple[torch.Tensor, ...], torch.Tensor]] = vmap(
            grad_and_value(self._loss), in_dims=(0, 0, 0, None if masks[0] is None else 0)
        )
        if len(by_length) == 1:
            x = torch.stack([b[0] for b in batches])
            y = torch.stack([b[1] for b in batches])
            mask = None if masks[0] is None else torch.stack(masks)  # type: ignore[arg-type]
            grads, loss = step(tuple(self.params), x, y, mask)
            return list(grads), loss
        grads_out = [torch.empty_like(p) for p in self.params]
        loss_out = torch.empty(K)
        for members in by_length.values():
            index = torch.tensor(members)
            x = torch.stack([batches[k][0] for k in members])
            y = torch.stack([batches[k][1] for k in members])
            mask = None if masks[0] is None else torch.stack([masks[k] for k in members])  # type: ignore[misc]
            grads, loss = step(tuple(p.index_select(0, index) for p in self.params), x, y, mask)
            for out, g in zip(grads_out, grads, strict=True):
                out.index_copy_(0, index, g)
            loss_out.index_copy_(0, index, loss)
        return grads_out, loss_out

    @torch.no_grad()
    def _step(self) -> torch.Tensor:
        batches, masks = self._batches()
        grads, loss = self._gradients(batches, masks)
        self.grads = grads
        # Per run, as ImageRun._finite_gradients: a finite loss and every gradient finite.
        finite = loss.isfinite()
        for g in grads:
            finite &= g.flatten(1).isfinite().all(dim=1)
        has_grad = [finite] * len(grads)
        if self.settings.any_clip:
            # A row not taken keeps its gradient as it is (its norm counts as 0: factor 1).
            clip_per_run(grads, has_grad, self.settings.clip_norm)
        for j, i in enumerate(self._weight_slots):
            before = self._weights_before[j]
            before.copy_(torch.where(rows(finite, before), self.params[i], before))
        lr = self.schedules.rates()
        lr32 = lr.float()
        all_rows = bool(finite.all())
        for p, g, state in zip(self.params, grads, self.states, strict=True):
            inputs = StepInputs(self.settings, lr, rows(lr32, p), finite, all_rows)
            RULES[self.kind](p, g, state, inputs)
            finish_burst(self.kind, state, inputs, 1)
        # The image run steps its scheduler at every step taken, a constant one too: every
        # kind's position moves (a constant's rate does not read it).
        self.schedules.position += finite.to(torch.float64)
        returned = torch.where(finite, loss.to(torch.float64), math.nan)
        for k, run in enumerate(self.members):
            run.last_loss = float(loss[k])
            run._stepped = bool(finite[k])
            run.step_count += int(finite[k])
            run.phase_done = "step"
            run._output = run._loss = None
        return returned
