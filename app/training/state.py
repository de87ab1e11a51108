"""One run's state at one step (TrainingState), taken whole and put back whole.

It is the rollback point after a divergence, every step the timeline can rewind to, and (its
settings and weights) a model file.

Restoring a state and training on with its settings replays the same steps bit for bit: the
parameters, the optimizer's and the scheduler's state, the sampler's position (the batch order
is redrawn from its seed) and the step count are all put back. Training draws no other random
numbers (no dropout), so there is no further RNG state to keep.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from app.training.batches import BatchSampler, SamplerPosition
from app.training.config import LabConfig
from app.training.model import MLP
from app.training.optimizers import LRScheduler, build_optimizer, build_scheduler

# Python objects around the tensors of one state (dicts, the settings, the sampler position),
# measured with tracemalloc on a 6×16 Adam model: ~3 kB; counted generously.
STATE_OVERHEAD_BYTES = 4096


class Trainable(Protocol):
    """The parts of a trainer that a state is taken from and put back into."""

    config: LabConfig
    model: MLP
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    sampler: BatchSampler
    step_count: int


@dataclass(frozen=True)
class TrainingState:
    """Never modified after capture: restore() hands the optimizer copies, not these dicts."""

    config: LabConfig
    step: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any]
    sampler: SamplerPosition
    nbytes: int


def tensor_bytes(value: object) -> int:
    """Bytes of every tensor inside nested dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return value.untyped_storage().nbytes()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(tensor_bytes(v) for v in value)
    return 0


def capture(trainer: Trainable) -> TrainingState:
    """The trainer's state now, copied (a few hundred floats for the models of this lab)."""
    model_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    optimizer_state = copy.deepcopy(trainer.optimizer.state_dict())
    return TrainingState(
        config=trainer.config,
        step=trainer.step_count,
        model_state=model_state,
        optimizer_state=optimizer_state,
        scheduler_state=copy.deepcopy(trainer.scheduler.state_dict()),
        sampler=trainer.sampler.position(),
        nbytes=STATE_OVERHEAD_BYTES + tensor_bytes(model_state) + tensor_bytes(optimizer_state),
    )


def restore(trainer: Trainable, state: TrainingState) -> None:
    """Put `trainer` back to `state`: settings, parameters, optimizer and scheduler state,
    sampler position and step. The optimizer object is kept when its kind is unchanged."""
    config, model = state.config, trainer.model
    training = config.training
    same_optimizer = trainer.config.training.optimizer == training.optimizer
    trainer.config = config
    model.set_activations(config.model.activations_per_layer())
    model.freeze(set(config.model.frozen_layers))
    model.load_state_dict(state.model_state, strict=False)
    optimizer = trainer.optimizer
    if not same_optimizer:
        optimizer = build_optimizer(training.optimizer, model.parameters(), training)
    # The scheduler first: building one writes the base rate into the groups, which the
    # optimizer's own state then puts back as it was.
    scheduler = build_scheduler(optimizer, training)
    try:
        # A copy: load_state_dict adopts the tensors it is given, and the state keeps these.
        optimizer.load_state_dict(copy.deepcopy(state.optimizer_state))
    except ValueError:
        # The parameter groups differ (a PReLU slope joined since): its state starts afresh.
        optimizer = build_optimizer(training.optimizer, model.parameters(), training)
        scheduler = build_scheduler(optimizer, training)
    scheduler.load_state_dict(copy.deepcopy(state.scheduler_state))
    trainer.optimizer, trainer.scheduler = optimizer, scheduler
    trainer.sampler.seek(state.sampler)
    trainer.step_count = state.step
    model.zero_grad(set_to_none=True)
