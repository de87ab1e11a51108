"""A member that steps on its own (a change's quick burst) is taken back into its rows: every
run, it and the others, goes on exactly as its eager twin."""

from __future__ import annotations

import math
from typing import Any

import torch

from app.training.change import SettingsChange
from app.training.session import TrainingSession
from app.training.stacked import RunGroup
from app.training.state import capture, restore
from tests.unit.stacked_oracle import assert_same_run, grouped, twins

# Every optimizer, a schedule, clipping, L1, Nesterov and a frozen layer: each a piece of
# state the rows must take back.
SETTINGS: list[dict[str, Any]] = [
    {"optimizer": "adam", "learning_rate": 0.01},
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
    {"optimizer": "rmsprop", "momentum": 0.5, "weight_decay": 0.01},
    {"optimizer": "adagrad", "schedule": "cosine", "schedule_steps": 40},
    {"optimizer": "sgd", "grad_clip_norm": 0.1, "schedule": "step", "schedule_step_size": 7},
    {"optimizer": "adamw", "weight_decay": 0.1, "l1": 0.01},
    {"optimizer": "sgd"},
]


def step_alone(group: RunGroup, run: TrainingSession) -> None:
    group.sync_out(run)
    run.train_step()
    group.take_back(run)


def twin_of(group: RunGroup, run: TrainingSession) -> TrainingSession:
    """A run of its own in the member's state now (captured and restored)."""
    group.sync_out(run)
    twin = TrainingSession(run.config)
    restore(twin, capture(run))
    return twin


def test_a_run_stepped_alone_is_its_eager_step_and_the_group_goes_on_from_it() -> None:
    runs = twins(SETTINGS)[0]
    runs[6].apply_change(SettingsChange(frozen_layers=[0]))
    group = RunGroup(runs)
    # 2 + 21 steps in: the runs stepped alone end their first epoch (250 points, batches of
    # 10) on their own, the others in the group's next step.
    group.train_steps(21)
    for k in (0, 2, 4, 6, 0, 1):
        twin = twin_of(group, runs[k])
        step_alone(group, runs[k])
        twin.train_step()
        group.sync_out(runs[k])
        assert_same_run(runs[k], twin, rtol=0.0)  # taken back whole: not a bit lost
    twins_now = [twin_of(group, run) for run in runs]
    group.train_steps(3)
    for run, twin in zip(runs, twins_now, strict=True):
        for _ in range(3):
            twin.train_step()
        group.sync_out(run)
        assert run.sampler.epoch == twin.sampler.epoch > 1
        assert_same_run(run, twin)


def catch_up(eager: list[TrainingSession], steps: list[int]) -> None:
    for run, n in zip(eager, steps, strict=True):
        for _ in range(n):
            run.train_step()


def test_a_run_that_has_never_stepped_starts_its_state_alone() -> None:
    grouped, eager = twins([{"optimizer": "adam"}, {"optimizer": "rmsprop"}], warm_up=0)
    group = RunGroup(grouped)
    step_alone(group, grouped[0])
    group.train_steps(2)
    catch_up(eager, [3, 2])
    for a, b in zip(grouped, eager, strict=True):
        group.sync_out(a)
        assert_same_run(a, b)


def test_a_quick_step_leaves_the_others_pictures_theirs_and_a_divergence_shows() -> None:
    runs = twins([{}, {}, {}, {"learning_rate": 0.05}])[0]
    groups, members, group = grouped(runs)
    groups.paint(group, 16, 8)
    before = int(group.step_count[1])
    groups.step_alone("s0")
    assert members[0].trained_since_change
    assert int(group.step_count[1]) == before  # the others did not step
    groups.sync_out("s1")
    assert groups.pictures_of("s1") is not None  # still of its step
    # A run whose weights broke: judged as its eager burst would be, rolled back, out.
    groups.sync_out("s3")
    runs[3].keep_rollback_point()  # as the group's bursts keep it, at most once a second
    kept = runs[3].step_count
    with torch.no_grad():
        runs[3].model.layers[0].weight[0, 0] = math.nan
    groups.step_alone("s3")
    assert groups.group_of("s3") is None
    divergence = members[3].divergence
    assert divergence is not None and "nan" in divergence.reason
    assert (divergence.step, divergence.restored_step) == (kept + 1, kept)
    assert runs[3].step_count == kept
    assert all(torch.isfinite(p).all() for p in runs[3].model.parameters())
    for k in range(3):  # the others' rows as they were
        assert all(torch.isfinite(t[k]).all() for t in group.network.tensors)
