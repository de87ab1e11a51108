"""Runs join and leave a group between steps, diverge alone, and keep their own batch order."""

from __future__ import annotations

import math

import torch

from app.training.change import SettingsChange
from app.training.stacked import (
    RunGroup,
    RunResult,
    RunShape,
    changes_shape,
    grouping_problem,
    run_shape,
)
from app.training.state import capture, restore
from tests.unit.stacked_oracle import assert_same_run, session, step_eagerly_and_compare, twins


def test_twenty_grouped_steps_stay_close_to_twenty_eager_steps() -> None:
    settings = [
        {"optimizer": "sgd", "momentum": 0.9},
        {"optimizer": "sgd", "learning_rate": 0.1, "schedule": "step", "schedule_step_size": 7},
        {"optimizer": "sgd", "nesterov": True, "momentum": 0.5, "grad_clip_norm": 0.1},
    ]
    grouped, eager = twins(settings)
    group = RunGroup(grouped)
    results = group.train_steps(20)
    eager_losses = [[s.train_step() for _ in range(20)] for s in eager]
    for a, b, result, losses in zip(grouped, eager, results, eager_losses, strict=True):
        group.sync_out(a)
        assert_same_run(a, b, rtol=1e-5)
        assert result.diverged_at is None
        torch.testing.assert_close(
            torch.tensor(result.losses), torch.tensor(losses), rtol=1e-5, atol=1e-6
        )


def test_join_steps_leave_then_eager_steps_equal_an_all_eager_run() -> None:
    settings = [{"optimizer": "adam", "learning_rate": 0.01 * (i + 1)} for i in range(3)]
    grouped, eager = twins(settings)
    group = RunGroup(grouped[:1])
    group.join(grouped[1])
    group.join(grouped[2])
    group.train_steps(5)
    group.leave(grouped[1])
    group.train_steps(4)
    group.leave(grouped[2])
    # 12 steps each in all: grouped, then eager after leaving.
    for _ in range(7):
        grouped[1].train_step()
    for _ in range(3):
        grouped[2].train_step()
    group.train_steps(3)
    group.sync_out(grouped[0])
    for s in eager:
        for _ in range(12):
            s.train_step()
    for a, b in zip(grouped, eager, strict=True):
        assert_same_run(a, b, rtol=1e-5)


def test_a_run_that_left_owns_its_weights_again() -> None:
    grouped, _ = twins([{}, {}])
    group = RunGroup(grouped)
    group.train_steps(2)
    group.leave(grouped[0])
    before = [p.detach().clone() for p in grouped[1].model.parameters()]
    grouped[0].train_step()
    group.sync_out(grouped[1])
    for p, q in zip(grouped[1].model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), q)


def test_one_diverging_run_in_twenty_leaves_the_others_as_their_eager_runs() -> None:
    settings = [{"learning_rate": 0.03 + 0.001 * i, "momentum": 0.5} for i in range(20)]
    settings[7] = {"learning_rate": 10.0, "momentum": 0.5}
    grouped, eager = twins(settings)
    for s in (grouped[3], eager[3]):  # and one run whose weights are already broken
        s.keep_rollback_point()  # (the last usable state: a broken one is never kept)
        with torch.no_grad():
            next(s.model.parameters()).fill_(math.nan)
    expected = [s.train_steps(30) for s in eager]
    group = RunGroup(grouped)
    verdicts: dict[int, RunResult] = {}
    steps = 0
    # As the scheduler would: a burst stops at a divergence, the run leaves, the rest go on.
    while steps < 30:
        results = group.train_steps(30 - steps)
        steps += len(results[0].losses)
        for result in results:
            if result.verdict is not None:
                verdicts[grouped.index(result.session)] = result
                group.leave(result.session)
    assert set(verdicts) == {i for i, d in enumerate(expected) if d is not None}
    assert 3 in verdicts
    for i, result in verdicts.items():
        divergence = expected[i]
        assert divergence is not None and result.verdict is not None
        # The same decision at the same step; a run at learning rate 10 is chaotic, so its
        # loss there agrees only roughly.
        assert result.diverged_at == divergence.step
        assert result.verdict.reason.split()[:3] == divergence.reason.split()[:3]
        assert result.verdict.roll_back == (divergence.restored_step != divergence.step)
    for i, (a, b) in enumerate(zip(grouped, eager, strict=True)):
        if i in verdicts:
            continue
        group.sync_out(a)
        for p in a.model.parameters():
            assert torch.isfinite(p).all() and p.grad is not None and torch.isfinite(p.grad).all()
        for state in a.optimizer.state.values():
            assert all(torch.isfinite(t).all() for t in state.values())
        assert_same_run(a, b, rtol=1e-4)


def test_batches_near_an_epochs_end_differ_in_length_and_are_masked() -> None:
    grouped, eager = twins([{"batch_size": 7}, {"batch_size": 7}], warm_up=0)
    # 250 training points: batches of 7 end each epoch with 5. Put the runs out of step.
    for s in (grouped[1], eager[1]):
        for _ in range(3):
            s.train_step()
    group = RunGroup(grouped)
    group.train_steps(40)
    step_eagerly_and_compare(group, grouped, eager, 40, rtol=1e-5)
    for a in grouped:
        assert a.sampler.epoch > 1


def test_runs_on_different_points_and_features_keep_their_own_data() -> None:
    model = {"features": ["x1", "x2", "x1_squared", "sin_x2"], "hidden_layers": [3]}
    grouped, eager = twins([{}, {}], model)
    for s in (grouped[1], eager[1]):
        s.rebuild(data=s.config.data.model_copy(update={"seed": 5, "noise": 0.2, "n_points": 300}))
    group = RunGroup(grouped)
    group.train_steps(3)
    step_eagerly_and_compare(group, grouped, eager, 3, rtol=1e-5)


def test_a_settings_change_that_keeps_the_shape_is_picked_up_by_refresh() -> None:
    grouped, eager = twins([{"momentum": 0.9}, {"schedule": "step", "schedule_step_size": 2}])
    group = RunGroup(grouped)
    group.train_steps(3)
    for s in eager:
        for _ in range(3):
            s.train_step()
    group.sync_out(grouped[0])
    for s in (grouped[0], eager[0]):
        s.set_training(learning_rate=0.2, l1=0.01, schedule="exponential", schedule_gamma=0.9)
        s.set_frozen_layers([2])
    for s in (grouped[1], eager[1]):  # a knob that keeps the schedule running
        s.set_training(momentum=0.5, nesterov=True)
    group.refresh(grouped[0])
    group.refresh(grouped[1])
    group.train_steps(3)
    step_eagerly_and_compare(group, grouped, eager, 3, rtol=1e-5)


def test_the_shape_names_what_must_match_and_a_half_done_step_cannot_join() -> None:
    a = session()
    assert run_shape(a) == run_shape(session(learning_rate=0.5, momentum=0.9))
    assert run_shape(a) != run_shape(session(batch_size=20))
    # Another optimizer updates its own block of the group's rows: the same shape, but a
    # change of optimizer still takes the run out (its new state starts empty).
    assert run_shape(a) == run_shape(session(optimizer="adam"))
    assert changes_shape(a, SettingsChange(training={"optimizer": "adam"}))
    assert run_shape(a) != run_shape(session({"activation": "relu"}))
    assert isinstance(run_shape(a), RunShape)
    assert grouping_problem(a, phase_pending=False) is None
    assert grouping_problem(a, phase_pending=True) is not None


def test_the_gradient_monitors_see_the_steps_their_eager_runs_would_sample() -> None:
    grouped, eager = twins([{"grad_clip_norm": 0.05}, {"optimizer": "sgd", "momentum": 0.9}])
    grouped[1].gradient_monitor.collect()  # the members sample at different steps
    eager[1].gradient_monitor.collect()
    group = RunGroup(grouped)
    group.train_steps(40)
    for s in eager:
        for _ in range(40):
            s.train_step()
    for a, b in zip(grouped, eager, strict=True):
        group.sync_out(a)
        stats, expected = a.gradient_monitor.collect(), b.gradient_monitor.collect()
        assert stats is not None and expected is not None
        assert stats.steps == expected.steps
        for name in ("grad_norm", "mean_abs_grad", "max_abs_grad", "update_ratio"):
            torch.testing.assert_close(
                torch.tensor(getattr(stats, name)),
                torch.tensor(getattr(expected, name)),
                rtol=1e-5,
                atol=1e-8,
            )


def test_a_state_captured_from_a_member_is_its_own_and_restores_after_leaving() -> None:
    grouped, eager = twins([{"optimizer": "adam"}] * 5)
    group = RunGroup(grouped)
    group.train_steps(4)
    for s in eager:
        for _ in range(4):
            s.train_step()
    group.sync_out(grouped[2])
    state, expected = capture(grouped[2]), capture(eager[2])
    # Copies of its own rows, not views that would keep the whole group's tensors alive.
    assert state.nbytes == expected.nbytes
    group.train_steps(3)
    group.leave(grouped[2])
    restore(grouped[2], state)
    for _ in range(2):
        grouped[2].train_step()
        eager[2].train_step()
    assert_same_run(grouped[2], eager[2], rtol=1e-5)


def test_a_change_of_shape_moves_the_run_to_another_group_intact() -> None:
    grouped, eager = twins([{"momentum": 0.9}, {"momentum": 0.9}, {"optimizer": "adam"}])
    sgd_group, adam_group = RunGroup(grouped[:2]), RunGroup(grouped[2:])
    sgd_group.train_steps(3)
    adam_group.train_steps(3)
    change = SettingsChange(training={"optimizer": "adam", "learning_rate": 0.01})
    assert changes_shape(grouped[1], change)
    assert not changes_shape(grouped[1], SettingsChange(training={"learning_rate": 0.5}))
    assert not changes_shape(grouped[1], SettingsChange(activation="tanh"))
    assert changes_shape(grouped[1], SettingsChange(layer_activations=["relu"]))
    sgd_group.leave(grouped[1])
    grouped[1].apply_change(change)
    adam_group.join(grouped[1])
    sgd_group.train_steps(4)
    adam_group.train_steps(4)
    for s in eager:
        for _ in range(3):
            s.train_step()
    eager[1].apply_change(change)
    for s in eager:
        for _ in range(4):
            s.train_step()
    sgd_group.sync_out(grouped[0])
    for s in grouped[1:]:
        adam_group.sync_out(s)
    for a, b in zip(grouped, eager, strict=True):
        assert_same_run(a, b, rtol=1e-5)


def test_several_runs_join_and_leave_at_once() -> None:
    grouped, eager = twins([{"learning_rate": 0.01 * (i + 1), "momentum": 0.9} for i in range(4)])
    group = RunGroup(grouped[:1])
    group.join(*grouped[1:])
    group.train_steps(4)
    group.leave(grouped[0], grouped[2])
    for s in (grouped[0], grouped[2]):
        s.train_step()
    group.train_steps(1)
    for s in eager:
        for _ in range(5):
            s.train_step()
    for s in (grouped[1], grouped[3]):
        group.sync_out(s)
    for a, b in zip(grouped, eager, strict=True):
        assert_same_run(a, b, rtol=1e-5)


def test_runs_with_more_or_fewer_points_join_a_group_under_way() -> None:
    grouped, eager = twins([{}, {}, {}])
    for n_points, i in ((300, 1), (700, 2)):
        for s in (grouped[i], eager[i]):
            s.rebuild(data=s.config.data.model_copy(update={"n_points": n_points}))
    group = RunGroup(grouped[:1])
    group.train_steps(7)
    group.join(grouped[1])
    group.train_steps(5)
    group.join(grouped[2])
    group.train_steps(30)
    group.leave(grouped[1])
    grouped[1].train_step()
    group.train_steps(1)
    for s, steps in zip(eager, (43, 36, 31), strict=True):
        for _ in range(steps):
            s.train_step()
    for s in (grouped[0], grouped[2]):
        group.sync_out(s)
    for a, b in zip(grouped, eager, strict=True):
        assert_same_run(a, b, rtol=1e-5)
