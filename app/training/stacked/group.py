"""A group: K runs of one shape stepped as one stacked computation, joining and leaving
between steps with their weights, optimizer state, schedule and batch order intact.

While a run is in a group its parameters are views into the group's rows (`param.data` is row
k of the stacked tensor), so the weights anything reads — frames, neuron maps, a captured
TrainingState (which clones them) — are always current at no cost. Gradients, optimizer state,
schedule, sampler position and counters live in the group's tensors and are written back by
`sync_out(session)` (a few copies per parameter): call it before reading those from a member.
Anything that writes a member's state itself (an eager or phase step, restore, rewind, reset,
new data, a change of shape: see changes_shape) needs the run out of the group first:
`leave()`, then `join()` again after; a change that keeps the shape is applied to the session
and picked up by `refresh()`.

A burst, as TrainingSession.burst() does it for one run: sync_out + keep_rollback_point for the
members whose rollback point is due; `train_steps(n)`; for a result with a verdict, leave()
and (on `roll_back`) restore the rollback point; sync_out the members whose frame is due, then
evaluate and record_losses. Members' weights change in place during train_steps: read a
member (a frame) between bursts, as the eager runs are read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from app.training.change import SCHEDULE_FIELDS
from app.training.divergence import Verdict
from app.training.stacked.blocks import Block, blocks, kind_rank, with_block_of
from app.training.stacked.epochs import StackedEpochs
from app.training.stacked.monitoring import MemberMonitors
from app.training.stacked.network import StackedNetwork
from app.training.stacked.objective import data_losses, penalties
from app.training.stacked.rows import (
    combined_schedules,
    combined_settings,
    combined_state,
    gathered,
)
from app.training.stacked.schedule import Schedules, write_schedule
from app.training.stacked.settings import RunSettings, run_settings, with_row
from app.training.stacked.shape import RunShape, run_shape
from app.training.stacked.transfer import read_state, stack_state, write_state
from app.training.stacked.updates import (
    RULES,
    SlotState,
    StepInputs,
    clip_per_run,
    finish_burst,
)
from app.training.stacked.verdicts import Judge, RunResult, results
from app.training.trainer import TrainingSession


def _gradient(t: torch.Tensor) -> torch.Tensor:
    """`t`'s gradient; zeros for a PReLU slope no run uses (its layer left PReLU, no L1):
    backward gives it none, and no row of it has a gradient, so nothing reads them."""
    if t.grad is None:
        t.grad = torch.zeros_like(t)
    return t.grad


# A run's numbers do not depend on who else is in its group when every per-run tensor of the
# step is a whole number of vector widths: torch's elementwise kernels run the bulk of a
# tensor through SIMD code (Sleef exp/tanh, fused multiply-adds) and its tail through scalar
# code, which round differently in the last bit, so with [K, 10, …] batches a run's values
# depended on K (one run alone differed from the same run among 20 after ~20 steps). Padding
# each run's batch (and data) to 32 samples — two AVX-512 vectors, four AVX2 ones — and
# masking the padding made runs bit-identical alone, among 7 or among 40, at any row, over 600
# steps of every optimizer here. It costs the padding's arithmetic: ~1.5–2× the step at K=100
# with batches of 10 (bench_batched); `reproducible=False` skips it.
LANES = 32


def _knobs(session: TrainingSession) -> tuple[object, ...]:
    """What a member's rows of settings, gradient masks and update blocks are read from:
    its training settings but the rate and schedule (the schedules' own rows), and what it
    freezes."""
    training = session.config.training
    return (
        tuple(value for name, value in training if name not in SCHEDULE_FIELDS),
        tuple(session.config.model.frozen_layers),
    )


def _kind_rank(session: TrainingSession) -> int:
    return kind_rank(session.config.training.optimizer)


def _update(
    block: Block,
    tensors: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    inputs: Sequence[StepInputs],
) -> None:
    """One optimizer's update of its block's rows, in place (views of the group's tensors)."""
    r = block.rows
    own, own_grads = [t[r] for t in tensors], [g[r] for g in grads]
    if block.plain_sgd:
        # Plain SGD on every row (the default run): param.add_(grad, alpha=−lr) for all
        # parameters in one foreach call, p + (−1)·(lr·g), the same roundings.
        lr_rows = [i.lr_rows for i in inputs]
        torch._foreach_addcmul_(own, lr_rows, own_grads, value=-1)
        return
    rule = RULES[block.kind]
    if block.side_by_side is not None:
        block.side_by_side.update(rule, own_grads, inputs[0])
        return
    for t, g, state, step_inputs in zip(own, own_grads, block.states, inputs, strict=True):
        rule(t, g, state, step_inputs)


class RunGroup:
    settings: RunSettings
    blocks: list[Block]
    has_grad: list[torch.Tensor]
    _knobs: dict[int, tuple[object, ...]]  # id(member) → _knobs(member) its rows were read at
    epochs: StackedEpochs

    def __init__(self, sessions: Sequence[TrainingSession], reproducible: bool = True) -> None:
        if not sessions:
            raise ValueError("a group needs at least one run")
        self.lanes = LANES if reproducible else 1
        self.shape: RunShape = run_shape(sessions[0])
        self.members: list[TrainingSession] = []
        # Each optimizer's members in one block of rows (blocks.py): a stable order by kind.
        for session in sorted(sessions, key=_kind_rank):
            self._check_shape(session)
            self.members.append(session)
        self._build()

    def _check_shape(self, session: TrainingSession) -> None:
        shape = run_shape(session)
        if shape != self.shape:
            raise ValueError(f"run shape {shape} does not match the group's {self.shape}")
        if any(s is session for s in self.members):
            raise ValueError("the run is already in this group")

    # ---- membership -------------------------------------------------------------------------

    def join(self, *sessions: TrainingSession) -> None:
        """Take `sessions` in between two steps: their rows are stacked on their own, then
        put after the members' (which stay where they are, unread)."""
        for i, session in enumerate(sessions):
            self._check_shape(session)
            if any(session is other for other in sessions[:i]):
                raise ValueError("the run is handed over twice")
        newcomers = RunGroup(sessions, reproducible=self.lanes > 1)
        self._combine([(self, range(len(self.members))), (newcomers, range(len(sessions)))])

    def leave(self, *sessions: TrainingSession) -> None:
        """Hand `sessions` back whole: each carries on eagerly exactly where the group left
        it; the others' rows close up."""
        leaving = [self._index(session) for session in sessions]
        for session in sessions:
            self.sync_out(session)
            for p in self._params[self._index(session)]:
                p.data = p.data.clone()  # its own storage again, no longer a row of ours
        staying = [k for k in range(len(self.members)) if k not in leaving]
        if staying:
            self._combine([(self, staying)])
        else:
            self.members = []

    def refresh(self, session: TrainingSession) -> None:
        """Re-read a member's hyper-parameters, frozen layers, schedule and divergence
        reference after a settings change that keeps its shape (learning rate, momentum,
        penalties, clipping, freezing) or accept_current_loss().
        A change of shape (optimizer, batch size, activations) needs leave() before it."""
        if run_shape(session) != self.shape:
            raise ValueError("the run's shape changed: leave() the group before such a change")
        k = self._index(session)
        self.judge.references[k] = session.divergence_reference
        training = session.config.training
        restart = session.scheduler is not self._schedulers[k]
        self.schedules.set_row(k, Schedules([training], [session.scheduler]), restart)
        self._schedulers[k] = session.scheduler
        knobs = _knobs(session)
        if self._knobs.get(id(session)) == knobs:
            return  # the rate or its schedule only (most changes): the rows' settings stay
        self._knobs[id(session)] = knobs
        self.settings = with_row(self.settings, k, run_settings([training]))
        self._read_masks([k])
        self.blocks = with_block_of(
            self.blocks, k, self.settings, self.states, self.has_grad, self.network.tensors
        )

    def _index(self, session: TrainingSession) -> int:
        for i, member in enumerate(self.members):
            if member is session:
                return i
        raise ValueError("the run is not in this group")

    def _build(self) -> None:
        """Stack every member's state into rows and point its parameters at them."""
        sessions = self.members
        self.network = StackedNetwork(self.shape, [s.model for s in sessions])
        self.monitors = MemberMonitors(sessions, self.network.slots)
        # Each member's parameters in the optimizer's order (fixed while its shape is).
        params = self._params = [list(s.model.parameters()) for s in sessions]
        self.kinds = [s.config.training.optimizer for s in sessions]
        self.states: list[SlotState] = [
            stack_state(self.kinds, [s.optimizer for s in sessions], [run[i] for run in params])
            for i in range(len(self.network.slots))
        ]
        for k, run in enumerate(params):
            for p, stacked in zip(run, self.network.tensors, strict=True):
                p.data = stacked.data[k]
        self._stack_epochs()
        self.step_count = torch.tensor([s.step_count for s in sessions])
        self.judge = Judge(
            self.network,
            self.epochs,
            self.shape.loss,
            [s.divergence_reference for s in sessions],
        )
        self.last_loss = torch.tensor(
            [math.nan if s.last_loss is None else s.last_loss for s in sessions]
        )
        # NaN until a step with clipping measures it.
        self.last_grad_norm = torch.full((len(sessions),), math.nan)
        self._schedulers = [s.scheduler for s in sessions]
        self.schedules = Schedules([s.config.training for s in sessions], self._schedulers)
        self._read_settings()

    def _combine(self, parts: Sequence[tuple[RunGroup, Sequence[int]]]) -> None:
        """These groups' runs (the given rows, in order within each optimizer's block) as this
        group's members."""
        parts = [
            (g, [k for k in taken if g.kinds[k] == kind])
            for kind in sorted({g.kinds[k] for g, taken in parts for k in taken}, key=kind_rank)
            for g, taken in parts
        ]
        parts = [(g, taken) for g, taken in parts if taken]
        index = [(g, torch.tensor(list(taken), dtype=torch.long)) for g, taken in parts]
        members = [g.members[k] for g, taken in parts for k in taken]
        tensors = [
            gathered([(g.network.tensors[i].detach(), r) for g, r in index]).requires_grad_(True)
            for i in range(len(self.network.slots))
        ]
        self.network = self.network.with_tensors(tensors)
        self._params = [g._params[k] for g, taken in parts for k in taken]
        self.kinds = [g.kinds[k] for g, taken in parts for k in taken]
        for k, params in enumerate(self._params):
            for p, stacked in zip(params, tensors, strict=True):
                p.data = stacked.data[k]
        self.states = [
            combined_state([(g.states[i], r) for g, r in index]) for i in range(len(tensors))
        ]
        self.schedules = combined_schedules([(g.schedules, r) for g, r in index])
        self.settings = combined_settings([(g.settings, r) for g, r in index])
        self.has_grad = [
            gathered([(g.has_grad[i], r) for g, r in index]) for i in range(len(tensors))
        ]
        self.step_count = gathered([(g.step_count, r) for g, r in index])
        self.last_loss = gathered([(g.last_loss, r) for g, r in index])
        self.last_grad_norm = gathered([(g.last_grad_norm, r) for g, r in index])
        self._schedulers = [g._schedulers[k] for g, taken in parts for k in taken]
        references = [g.judge.references[k] for g, taken in parts for k in taken]
        self.members = members
        self.epochs = StackedEpochs.combined([(g.epochs, taken) for g, taken in parts])
        self.judge = Judge(self.network, self.epochs, self.shape.loss, references)
        self.monitors = MemberMonitors(members, self.network.slots)
        known = {key: knobs for g, _ in parts for key, knobs in g._knobs.items()}
        self._knobs = {id(m): known[id(m)] for m in members if id(m) in known}
        self._masks_changed()

    def _stack_epochs(self) -> None:
        sessions = self.members
        self.epochs = StackedEpochs(
            [s.sampler for s in sessions],
            [s.model.features(s.data.train_x) for s in sessions],
            [s.data.train_y for s in sessions],
            self.shape.batch_size,
            self.lanes,
        )

    def _read_settings(self) -> None:
        self.settings = run_settings([s.config.training for s in self.members])
        self._knobs = {id(s): _knobs(s) for s in self.members}
        k = len(self.members)
        self.has_grad = [torch.zeros(k, dtype=torch.bool) for _ in self.network.slots]
        self._read_masks(range(k))
        self._masks_changed()

    def _read_masks(self, runs: Iterable[int]) -> None:
        """Which of these runs' rows have a gradient: a frozen layer's none, and an unused
        PReLU slope one only when L1 pulls on it (the caller reads the blocks again)."""
        for k in runs:
            l1_on = bool(self.settings.l1[k] > 0)
            for i, (slot, p) in enumerate(zip(self.network.slots, self._params[k], strict=True)):
                self.has_grad[i][k] = p.requires_grad and (slot.in_forward or l1_on)

    def _masks_changed(self) -> None:
        """Settings, masks or rows changed: the optimizers' blocks read them again."""
        self.blocks = blocks(
            self.kinds, self.settings, self.states, self.has_grad, self.network.tensors
        )

    # ---- reading a member -------------------------------------------------------------------

    def sync_out(self, session: TrainingSession) -> None:
        """Write the group's view of a member into it: gradients (views of this step's rows),
        optimizer state (copies), schedule, batch order position, step count, last loss and
        gradient norm. Its weights are our rows already."""
        k = self._index(session)
        kind = self.kinds[k]
        for i, p in enumerate(self._params[k]):
            grad = self.network.tensors[i].grad
            if grad is not None:
                p.grad = grad[k] if bool(self.has_grad[i][k]) else None
            write_state(kind, self.states[i], k, session.optimizer, p)
        write_schedule(
            session.scheduler,
            float(self.schedules.position[k]),
            float(self.schedules.rates()[k]),
        )
        self.epochs.write_position(k)
        session.step_count = int(self.step_count[k])
        loss = float(self.last_loss[k])
        session.last_loss = None if math.isnan(loss) and session.step_count == 0 else loss
        norm = float(self.last_grad_norm[k])
        if not math.isnan(norm) and self.settings.clip_norm[k] > 0:
            session.last_grad_norm = norm

    def take_back(self, session: TrainingSession) -> None:
        """sync_out's inverse: after a member stepped on its own (its eager train_step from
        the state sync_out gave it), its new state into its rows; the others' stay as they
        are, and the group goes on from there."""
        k = self._index(session)
        for i, p in enumerate(self._params[k]):
            stacked = self.network.tensors[i]
            row = stacked.data[k]
            if p.data.data_ptr() != row.data_ptr():  # replaced (a restore), not updated in place
                row.copy_(p.data)
                p.data = row
            grad = stacked.grad
            if grad is not None and p.grad is not None and bool(self.has_grad[i][k]):
                grad[k].copy_(p.grad)
            read_state(self.states[i], k, session.optimizer, p)
        self.schedules.position[k] = float(session.scheduler.last_epoch)
        self.epochs.read_position(k)
        self.step_count[k] = session.step_count
        self.last_loss[k] = math.nan if session.last_loss is None else session.last_loss
        if session.last_grad_norm is not None and self.settings.clip_norm[k] > 0:
            self.last_grad_norm[k] = session.last_grad_norm

    def _sync_all(self) -> None:
        for session in self.members:
            self.sync_out(session)

    # ---- training ---------------------------------------------------------------------------

    def train_steps(self, n: int) -> list[RunResult]:
        """Up to `n` steps of every member; each run's steps equal its own eager
        train_step()s. Like the eager burst, it stops after a step at which a run is judged
        diverged (the others simply step fewer this time); a non-finite batch loss found
        between checks is reported at its step, the run's later steps being discarded."""
        losses = torch.empty(n, len(self.members))
        inputs = self._step_inputs(self.schedules.base)
        due = self.judge.plan(self.step_count, n)
        self.monitors.plan(n, self.has_grad)
        verdicts: dict[int, tuple[int, Verdict]] = {}
        done = 0
        while done < n and not verdicts:
            losses[done] = self._step(done, inputs)
            done += 1
            checked = due.get(done - 1)
            if checked:
                for k, verdict in self.judge.check(checked, losses[done - 1]).items():
                    verdicts[k] = (int(self.step_count[k]) + done, verdict)
        losses = losses[:done]
        # Counters once per burst: every member took every step.
        self.step_count += done
        self.monitors.finish(done)
        for block, block_inputs in zip(self.blocks, inputs, strict=True):
            for state, step_inputs in zip(block.states, block_inputs, strict=True):
                finish_burst(block.kind, state, step_inputs, done)
        if done:
            self.last_loss = losses[-1].to(torch.float64)
        return results(self.members, losses, verdicts, self.step_count)

    def _step_inputs(self, lr: torch.Tensor) -> list[list[StepInputs]]:
        """Per block, per parameter slot."""
        lr32 = lr.float()
        return [block.inputs(lr, lr32, self.network.tensors) for block in self.blocks]

    def _step(self, i: int, inputs: list[list[StepInputs]]) -> torch.Tensor:
        batch = self.epochs.next()
        network, settings = self.network, self.settings
        for t in network.tensors:
            t.grad = None
        *hidden, output = network.forward(batch.x)
        lengths = batch.lengths
        loss = data_losses(self.shape.loss, output, batch.y, batch.mask, lengths)
        absolute = network.absolute_sums() if settings.any_l1 else None
        penalty = penalties(settings, absolute, hidden, batch.mask, lengths)
        if penalty is not None:
            loss = loss + penalty
        # Each run's loss depends on its rows only: one backward gives every run its gradient.
        loss.sum().backward()  # type: ignore[no-untyped-call]
        # No run uses a PReLU slope left behind without L1: it has no gradient at all, and
        # zeros stand in (no row of it has a gradient, so nothing reads them).
        grads = [_gradient(t) for t in network.tensors]
        self.monitors.before_step(i, grads)
        with torch.no_grad():
            if settings.any_clip:
                self.last_grad_norm = clip_per_run(grads, self.has_grad, self.settings.clip_norm)
            if self.schedules.varies:
                inputs = self._step_inputs(self.schedules.rates())
            for block, block_inputs in zip(self.blocks, inputs, strict=True):
                _update(block, network.tensors, grads, block_inputs)
        self.monitors.after_step(i)
        self.schedules.advance()
        return loss.detach()
