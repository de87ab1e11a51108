"""A run's shape: everything that must match for runs to step as one stacked computation."""

from __future__ import annotations

from dataclasses import dataclass

from app.training.change import SettingsChange
from app.training.optimizers import optimizer_options
from app.training.trainer import TrainingSession


@dataclass(frozen=True)
class RunShape:
    """Two runs with equal shapes have the same computation graph; everything else (the
    optimizer, whose rule updates its own block of the group's rows: blocks.py; learning rate
    and schedule, momentum, betas, penalties, clipping, frozen layers, data points, step
    counts) is a per-run value inside the group."""

    features: tuple[str, ...]
    hidden_layers: tuple[int, ...]
    activations: tuple[str, ...]
    # Hidden layers that own a PReLU slope: it stays a parameter (L1 and weight decay see it)
    # after the layer leaves PReLU, so it is part of the parameter list.
    prelu_layers: tuple[int, ...]
    loss: str
    n_outputs: int
    batch_size: int


def run_shape(session: TrainingSession) -> RunShape:
    model = session.model
    return RunShape(
        features=tuple(model.features.names),
        hidden_layers=tuple(layer.out_features for layer in model.layers[:-1]),  # type: ignore[misc]
        activations=tuple(model.activations),
        prelu_layers=tuple(int(key) for key in model.prelu),
        loss=type(session.loss_fn).__name__,
        n_outputs=session.data.n_outputs,
        batch_size=session.sampler.batch_size,
    )


def grouping_problem(session: TrainingSession, phase_pending: bool) -> str | None:
    """Why `session` must step alone, eagerly, or None when it can join a group.

    `phase_pending`: the phase stepper is half-way through a step (the caller owns it).
    """
    if phase_pending:
        return "a phase-by-phase step is half done"
    if session.model.neuron_masks:
        return "a neuron is switched off: the stacked forward has no masks"
    optimizer = session.optimizer
    if optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks:
        return "the optimizer has hooks"
    groups = optimizer.param_groups
    first = {k: v for k, v in groups[0].items() if k != "params"}
    if any({k: v for k, v in g.items() if k != "params"} != first for g in groups[1:]):
        # A slope added mid-schedule keeps the rate it joined with: an eager-only quirk.
        return "the optimizer's parameter groups differ"
    if len(session.scheduler.base_lrs) != len(groups):
        return "the schedule does not cover every parameter group"
    training = session.config.training
    expected = optimizer_options(training.optimizer, training)
    if any(groups[0].get(k) != v for k, v in expected.items() if k != "lr"):
        return "the optimizer's settings differ from the run's configuration"
    return None


def changes_shape(session: TrainingSession, change: SettingsChange) -> bool:
    """Whether applying `change` would change the run's shape or its optimizer: the run must
    then leave its group before the change (a new optimizer starts from torch's empty state,
    which the group's rows must not be written into) and join again after, into its new
    optimizer's block. Other changes are
    applied in place and picked up by RunGroup.refresh()."""
    training = session.config.training
    for name in ("optimizer", "batch_size"):
        if name in change.training and change.training[name] != getattr(training, name):
            return True
    if change.activation is None and change.layer_activations is None:
        return False
    updates: dict[str, object] = {}
    if change.activation is not None:
        updates.update(activation=change.activation, layer_activations=None)
    if change.layer_activations is not None:
        updates["layer_activations"] = list(change.layer_activations)
    activations = session.config.model.model_copy(update=updates).activations_per_layer()
    return list(activations) != list(session.model.activations)
