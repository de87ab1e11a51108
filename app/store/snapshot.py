"""A run's snapshot: everything needed to resume a TrainingSession, taken and put back whole.

`take_snapshot` runs on the engine's thread and only copies (a TrainingState capture and
shallow copies of lists whose items are never changed in place), so the encoding can happen on
another thread while training goes on. `resume_session` builds a fresh TrainingSession that
is exactly where the snapshot's was: same step, weights bit for bit, same optimizer and
scheduler state, same next batches, same loss log, timeline and branches.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import torch

from app.store.errors import CorruptRecord
from app.training.datasets import Dataset
from app.training.history import Run, Timeline
from app.training.loss_log import LossRecord
from app.training.model import ActivationName
from app.training.optimizers import add_parameters, build_optimizer
from app.training.session import TrainingSession
from app.training.state import TrainingState, capture, restore

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True)
class TimelineSnapshot:
    """A Timeline's contents; its memory limits are the server's settings, not the run's."""

    states: list[TrainingState]
    archived: list[Run]
    current: Run
    next_id: int
    rewound: bool
    version: int
    thinned_before: int | None


@dataclass(frozen=True)
class RunSnapshot:
    state: TrainingState
    data: Dataset
    history: list[LossRecord]
    timeline: TimelineSnapshot
    divergence_reference: float
    last_loss: float | None
    last_grad_norm: float | None
    # What the live session keeps beside the engine (its own knobs), opaque to the store.
    live: dict[str, JsonValue] = field(default_factory=dict)


def take_snapshot(
    session: TrainingSession, live: dict[str, JsonValue] | None = None
) -> RunSnapshot:
    """`session` now, on the engine's thread (a capture of the weights, ~µs beyond that)."""
    timeline = session.timeline
    return RunSnapshot(
        state=capture(session),
        data=session.data,
        history=list(session.history),
        timeline=TimelineSnapshot(
            states=list(timeline.states),
            archived=list(timeline.archived),
            # The current run's name and config change in place; the rest are kept as they are.
            current=copy.copy(timeline.current),
            # The timeline keeps no public counter of run ids or of a pending rewind.
            next_id=timeline._next_id,
            rewound=timeline._rewound,
            version=timeline.version,
            thinned_before=timeline.thinned_before,
        ),
        divergence_reference=session.divergence_reference,
        last_loss=session.last_loss,
        last_grad_norm=session.last_grad_norm,
        live=copy.deepcopy(live or {}),
    )


def resume_session(snapshot: RunSnapshot, timeline: Timeline | None = None) -> TrainingSession:
    """A TrainingSession exactly where `snapshot` was; CorruptRecord if its parts do not fit
    together (weights of another shape, an optimizer state of other parameters). `timeline`
    carries the server's memory limits for the states."""
    state = snapshot.state
    session = TrainingSession(state.config)
    session.use_points(snapshot.data)
    _match_parameters(session, state)
    _check_weights(session, state.model_state)
    try:
        restore(session, state)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise CorruptRecord(f"the run's state does not fit its model: {error}") from None
    for kept in snapshot.timeline.states:
        # Older states hold a subset of the slopes (the model keeps every slope it made).
        _check_weights(session, kept.model_state, subset=True)
    session.history = list(snapshot.history)
    session.timeline = _timeline(snapshot.timeline, timeline or Timeline())
    session.divergence_reference = snapshot.divergence_reference
    session.last_loss = snapshot.last_loss
    session.last_grad_norm = snapshot.last_grad_norm
    return session


def _match_parameters(session: TrainingSession, state: TrainingState) -> None:
    """PReLU slopes the run created along the way, and the optimizer's groups as they were
    (a slope created later joined as a group of its own), so its state loads as saved."""
    model = session.model
    config_activations = state.config.model.activations_per_layer()
    for key in state.model_state:
        if key.startswith("prelu."):
            index = key.removeprefix("prelu.")
            if not index.isdigit() or int(index) >= len(config_activations):
                raise CorruptRecord(f"the run's weights name an unknown slope {key!r}")
            with_slope: list[ActivationName] = list(config_activations)
            with_slope[int(index)] = "prelu"
            model.set_activations(with_slope)
    model.set_activations(config_activations)
    # Slopes in the order the run created them: the order of its parameters and of their
    # optimizer state.
    for key in state.model_state:
        if key.startswith("prelu."):
            index = key.removeprefix("prelu.")
            model.prelu[index] = model.prelu.pop(index)
    groups = state.optimizer_state.get("param_groups")
    if not isinstance(groups, list) or not groups:
        raise CorruptRecord("the run's optimizer state has no parameter groups")
    sizes = [len(g.get("params", [])) if isinstance(g, dict) else -1 for g in groups]
    parameters = list(model.parameters())
    if any(n < 1 for n in sizes) or sum(sizes) != len(parameters):
        raise CorruptRecord("the run's optimizer state is of other parameters than its model")
    training = state.config.training
    optimizer = build_optimizer(training.optimizer, parameters[: sizes[0]], training)
    start = sizes[0]
    for size in sizes[1:]:
        add_parameters(optimizer, parameters[start : start + size])
        start += size
    session.optimizer = optimizer


def _check_weights(
    session: TrainingSession, weights: dict[str, torch.Tensor], subset: bool = False
) -> None:
    expected = session.model.state_dict()
    if not (set(weights) <= set(expected) if subset else set(weights) == set(expected)):
        raise CorruptRecord("the run's weights do not fit its model")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise CorruptRecord(f"the run's weight {name} is not of its model's shape")


def _timeline(saved: TimelineSnapshot, timeline: Timeline) -> Timeline:
    timeline.states = list(saved.states)
    timeline.nbytes = sum(s.nbytes for s in saved.states)
    timeline.archived = list(saved.archived)
    timeline.current = replace(saved.current)
    timeline._next_id = saved.next_id
    timeline._rewound = saved.rewound
    timeline.version = saved.version
    timeline.thinned_before = saved.thinned_before
    return timeline
