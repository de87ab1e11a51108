"""One group of one network over every optimizer: each optimizer updates its own rows."""

from __future__ import annotations

from typing import Any

import torch

from app.training.stacked import RunGroup
from tests.unit.stacked_oracle import assert_same_run, session, step_eagerly_and_compare, twins

# Interleaved on purpose: the group orders its members into one block per optimizer.
MIXED: list[dict[str, Any]] = [
    {"optimizer": "adam", "learning_rate": 0.01},
    {"optimizer": "sgd"},
    {"optimizer": "rmsprop", "momentum": 0.5, "weight_decay": 0.01},
    {"optimizer": "adagrad"},
    {"optimizer": "sgd", "momentum": 0.9, "grad_clip_norm": 0.1},
    {"optimizer": "adamw", "weight_decay": 0.1, "learning_rate": 0.02},
    {"optimizer": "adam", "l1": 0.01, "schedule": "cosine", "schedule_steps": 5},
]


def test_a_mixed_group_steps_every_optimizer_as_its_eager_run() -> None:
    grouped, eager = twins(MIXED)
    group = RunGroup(grouped)
    assert len(group.blocks) == 5
    group.train_steps(1)
    step_eagerly_and_compare(group, grouped, eager, 1)


def test_joining_and_leaving_keep_each_optimizers_rows_and_state() -> None:
    grouped, eager = twins(MIXED)
    group = RunGroup(grouped[:2])  # Adam and SGD
    group.train_steps(3)
    group.join(*grouped[2:5])
    group.train_steps(3)
    group.leave(grouped[0], grouped[3])  # an Adam run, and the Adagrad block entire
    group.join(grouped[5], grouped[6])
    group.train_steps(3)
    kinds = [s.config.training.optimizer for s in group.members]
    assert kinds == ["sgd", "sgd", "adam", "adamw", "rmsprop"]
    assert [b.kind for b in group.blocks] == ["sgd", "adam", "adamw", "rmsprop"]
    for a, b in zip(grouped, eager, strict=True):
        if a in group.members:
            group.sync_out(a)
        assert a.step_count in (5, 8, 11)  # two warm-up steps, then 3, 6 or 9 in the group
        for _ in range(a.step_count - b.step_count):
            b.train_step()
        assert_same_run(a, b, rtol=1e-5)


def test_a_run_is_bit_identical_alone_and_among_other_optimizers() -> None:
    weights = []
    for crowd in (False, True):
        run = session(optimizer="rmsprop", momentum=0.5, learning_rate=0.01)
        others = [session(**settings) for settings in MIXED] if crowd else []
        group = RunGroup([*others[:4], run, *others[4:]])
        group.train_steps(60)  # over epochs' ends, and a schedule's turns among the others
        weights.append([p.detach().clone() for p in run.model.parameters()])
    for alone, among in zip(*weights, strict=True):
        assert torch.equal(alone, among)


def test_a_diverging_optimizer_leaves_the_others_as_they_would_be_alone() -> None:
    runs = [session(optimizer="sgd", learning_rate=10.0, momentum=0.9)]
    runs += [session(**settings) for settings in MIXED]
    group = RunGroup(runs)
    for _ in range(50):
        results = group.train_steps(8)
        if results[0].diverged_at is not None:
            break
    else:
        raise AssertionError("the run at learning rate 10 never diverged")
    for run, settings in zip(runs[1:], MIXED, strict=True):
        group.sync_out(run)
        alone = session(**settings)
        RunGroup([alone]).train_steps(run.step_count)
        for p, q in zip(run.model.parameters(), alone.model.parameters(), strict=True):
            assert torch.isfinite(p).all()
            assert torch.equal(p, q)


def test_a_knob_change_reads_only_its_own_block_again() -> None:
    grouped, eager = twins(MIXED)
    group = RunGroup(grouped)
    group.train_steps(2)
    for s in eager:
        s.train_step()
        s.train_step()
    before = list(group.blocks)
    changed = next(s for s in grouped if s.config.training.optimizer == "rmsprop")
    group.sync_out(changed)
    for s in (changed, eager[grouped.index(changed)]):
        s.set_training(learning_rate=0.003, momentum=0.0)
    group.refresh(changed)
    kept = [a is b for a, b in zip(before, group.blocks, strict=True)]
    assert kept == [b.kind != "rmsprop" for b in before]
    group.train_steps(3)
    step_eagerly_and_compare(group, grouped, eager, 3, rtol=1e-5)


def test_a_rate_change_reads_no_block_or_setting_again() -> None:
    """Most of a class's changes are a learning rate: the schedules' row takes it, and the
    blocks and settings rows stay as they were."""
    grouped, eager = twins(MIXED)
    group = RunGroup(grouped)
    group.train_steps(2)
    for s in eager:
        s.train_step()
        s.train_step()
    blocks, settings = list(group.blocks), group.settings
    for k in (0, 3):
        group.sync_out(grouped[k])
        for s in (grouped[k], eager[k]):
            s.set_training(learning_rate=0.004 * (k + 1), schedule="cosine")
        group.refresh(grouped[k])
    assert group.settings is settings
    assert all(a is b for a, b in zip(blocks, group.blocks, strict=True))
    group.train_steps(3)
    step_eagerly_and_compare(group, grouped, eager, 3, rtol=1e-5)
    # A rate and a momentum at once: the block of that run is read again.
    group.sync_out(grouped[0])
    for s in (grouped[0], eager[0]):
        s.set_training(learning_rate=0.02, momentum=0.3)
    group.refresh(grouped[0])
    assert group.settings is not settings
    group.train_steps(2)
    step_eagerly_and_compare(group, grouped, eager, 2, rtol=1e-5)
