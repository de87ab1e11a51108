"""Twin runs for the batched engine's tests: one steps in a group, its twin eagerly (the oracle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from app.realtime.groups import Member, TrainingGroups
from app.training.config import LabConfig, ModelConfig, TrainingConfig
from app.training.stacked import RunGroup
from app.training.trainer import TrainingSession


def session(model: dict[str, Any] | None = None, **training: Any) -> TrainingSession:
    return TrainingSession(
        LabConfig(model=ModelConfig(**(model or {})), training=TrainingConfig(**training))
    )


def twins(
    settings: list[dict[str, Any]], model: dict[str, Any] | None = None, warm_up: int = 2
) -> tuple[list[TrainingSession], list[TrainingSession]]:
    """Two identical runs per settings (same seeds ⇒ bit-identical), a few eager steps in so
    that momentum, moments and schedules are under way."""
    grouped = [session(model, **s) for s in settings]
    eager = [session(model, **s) for s in settings]
    for s in grouped + eager:
        for _ in range(warm_up):
            s.train_step()
    return grouped, eager


def close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-6) -> None:
    """Equal to float32 rounding, relative to the tensor's scale: a momentum buffer's element
    can be the small difference of two large terms, where an element-wise relative bound
    would measure the cancellation rather than the engine."""
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


def assert_same_run(a: TrainingSession, b: TrainingSession, rtol: float = 1e-6) -> None:
    """Every weight, gradient and optimizer-state value, the schedule's rate, the batch
    order's position and the step count."""
    assert a.step_count == b.step_count
    assert a.sampler.position() == b.sampler.position()
    assert abs(a.learning_rate - b.learning_rate) <= 1e-12 * b.learning_rate
    assert a.scheduler.last_epoch == b.scheduler.last_epoch
    for (name, p), q in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        close(p.detach(), q.detach(), rtol)
        assert (p.grad is None) == (q.grad is None), name
        if q.grad is not None:
            assert p.grad is not None
            close(p.grad, q.grad, rtol)
        state_a, state_b = a.optimizer.state.get(p, {}), b.optimizer.state.get(q, {})
        assert state_a.keys() == state_b.keys(), name
        for key, value in state_b.items():
            close(state_a[key], value, rtol)


def step_eagerly_and_compare(
    group: RunGroup,
    grouped: list[TrainingSession],
    eager: list[TrainingSession],
    steps: int,
    rtol: float = 1e-6,
) -> None:
    """Bring each eager twin level with its grouped run by `steps` eager steps, then hold every
    grouped run, written out of the group, to its twin: the oracle check most of these tests
    end on. Every run in `grouped` must still be a member of `group`."""
    for s in eager:
        for _ in range(steps):
            s.train_step()
    for a, b in zip(grouped, eager, strict=True):
        group.sync_out(a)
        assert_same_run(a, b, rtol)


def placed(
    engines: list[TrainingSession],
    charge: Callable[[str, float], None] = lambda session_id, seconds: None,
) -> tuple[TrainingGroups, list[Member], RunGroup]:
    """Every engine enrolled and placed, as their play loops would: the first two form the
    group (returned), the others wait to join at its first burst."""
    groups = TrainingGroups(charge)
    members = [Member(f"s{i}", e, lambda: False) for i, e in enumerate(engines)]
    for m in members:
        groups.enrol(m)
        groups.place(m)
    first = groups.place(members[0])
    assert first is not None
    return groups, members, first


def grouped(engines: list[TrainingSession]) -> tuple[TrainingGroups, list[Member], RunGroup]:
    """Every engine placed in the one group of their shape: placed(), then its first burst
    (one chunk of steps) takes the others in."""
    groups, members, first = placed(engines)
    groups.train(first, 0.0)
    group = groups.group_of("s0")
    assert group is not None and group.members == engines
    return groups, members, group
