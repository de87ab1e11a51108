"""Training groups of live sessions: changes land on the next step, a divergence stays alone."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from app.realtime.groups import Member, TrainingGroups
from app.training.change import SettingsChange
from tests.unit.stacked_oracle import assert_same_run, grouped, placed, session, twins


def test_two_waiting_runs_of_one_shape_form_a_group_and_one_alone_does_not() -> None:
    runs = twins([{}, {}])[0] + [session({"hidden_layers": [3]})]
    groups = TrainingGroups(lambda session_id, seconds: None)
    members = [Member(f"s{i}", e, lambda: False) for i, e in enumerate(runs)]
    placed = []
    for m in members:
        groups.enrol(m)
        placed.append(groups.place(m))
    assert placed[0] is None and placed[2] is None  # nobody of their shape yet
    assert placed[1] is not None and placed[1].members == runs[:2]
    assert groups.place(members[0]) is placed[1]
    # A newcomer of the shape waits for the group's next burst, and joins there.
    fourth = Member("s3", twins([{}])[0][0], lambda: False)
    groups.enrol(fourth)
    assert groups.place(fourth) is None
    groups.train(placed[1], 0.0)
    group = groups.group_of("s3")
    assert group is not None and group.members == [*runs[:2], fourth.engine]
    # One leaving dissolves the group: the other steps alone, eagerly, faster.
    groups.withdraw("s3")
    groups.withdraw("s1")
    assert groups.stats().groups == 0 and groups.place(members[0]) is None


def test_a_learning_rate_change_in_a_group_applies_from_the_next_step() -> None:
    settings = [{"momentum": 0.5}, {"momentum": 0.5, "learning_rate": 0.05}]
    runs, eager = twins(settings)
    groups, _, group = grouped(runs)
    groups.train(group, 0.0)  # one chunk of steps
    groups.sync_out("s0")
    before = runs[0].step_count
    groups.apply_change("s0", runs[0], SettingsChange(training={"learning_rate": 0.3}))
    groups.train(group, 0.0)
    assert groups.stats().groups == 1, "a new rate keeps the run's shape and its group"
    groups.withdraw("s0")
    for e in eager:
        for _ in range(before - e.step_count):
            e.train_step()
    eager[0].set_training(learning_rate=0.3)
    for e, r in zip(eager, runs, strict=True):
        while e.step_count < r.step_count:
            e.train_step()
        assert_same_run(r, e, rtol=1e-5)
    assert runs[0].learning_rate == 0.3


def test_a_change_of_optimizer_takes_the_run_out_with_its_weights() -> None:
    runs, _ = twins([{}, {}, {}])
    groups, _, group = grouped(runs)
    groups.train(group, 0.0)
    groups.sync_out("s1")
    weights = [p.detach().clone() for p in runs[1].model.parameters()]
    groups.apply_change("s1", runs[1], SettingsChange(training={"optimizer": "adam"}))
    assert len(group.members) == 2 and runs[1] not in group.members
    for p, w in zip(runs[1].model.parameters(), weights, strict=True):
        assert torch.equal(p.detach(), w)
    runs[1].train_step()  # eagerly, with its new optimizer
    groups.train(group, 0.0)  # the others go on


def test_a_diverging_member_is_rolled_back_alone_as_its_eager_run_is() -> None:
    settings = [{"momentum": 0.5}, {"learning_rate": 10.0, "momentum": 0.5}, {"momentum": 0.5}]
    runs, eager = twins(settings)
    groups, members, group = grouped(runs)
    for _ in range(200):
        if groups.train(group, 0.0):
            break
    else:
        raise AssertionError("the run at learning rate 10 never diverged")
    divergence = members[1].divergence
    assert divergence is not None
    assert runs[1] not in group.members and len(group.members) == 2
    # Its eager twin in bursts of the same steps diverges at the same step and rolls back
    # to the same state.
    while (expected := eager[1].train_steps(4)) is None:
        pass
    assert (divergence.step, divergence.restored_step) == (expected.step, expected.restored_step)
    # Where its eager twin was left, whole and finite (a run at rate 10 is chaotic: its
    # weights agree with the twin's only roughly by then).
    assert runs[1].step_count == divergence.restored_step
    for p in runs[1].model.parameters():
        assert torch.isfinite(p).all()
    groups.train(group, 0.0)  # the others go on
    for i in (0, 2):
        groups.sync_out(f"s{i}")
        for p in runs[i].model.parameters():
            assert torch.isfinite(p).all()
        while eager[i].step_count < runs[i].step_count:
            eager[i].train_step()
        assert_same_run(runs[i], eager[i], rtol=1e-5)


def test_a_group_burst_tells_every_member_it_trained_since_its_change() -> None:
    """A change's quick burst trains the whole group one step only if nothing stepped the
    group since the change (play_loop._grouped_burst): one step serves every change before it."""
    runs = twins([{}, {}, {}])[0]
    groups, members, group = grouped(runs)
    for m in members:
        m.trained_since_change = False  # as each one's command does
    groups.train(group, 0.0, first_chunk=1)
    assert all(m.trained_since_change for m in members)


def test_a_group_stepped_after_its_paint_is_painted_again_for_those_still_waiting() -> None:
    """A change's quick burst steps the whole group mid-round: the members still waiting for
    their frames get pictures of their new step (a paint of their rows only), never stale
    ones; one or two left waiting read themselves (cheaper than a paint)."""
    runs = twins([{} for _ in range(8)])[0]
    groups, members, group = grouped(runs)
    groups.paint_for_frames(group, 16, 8, members)
    painted = [m.pictures for m in members]
    assert all(p is not None for p in painted)
    groups.paint_for_frames(group, 16, 8, members)  # fresh: not painted again
    assert [m.pictures for m in members] == painted
    for m in members[:2]:  # their frames of the round are built
        groups.sync_out(m.session_id)
        assert groups.pictures_of(m.session_id) is not None
    groups.train(group, 0.0, first_chunk=1)  # someone's quick burst
    groups.paint_for_frames(group, 16, 8, members[2:])
    assert members[0].pictures is None and members[1].pictures is None  # not painted again
    for m, run in zip(members[2:], runs[2:], strict=True):
        groups.sync_out(m.session_id)
        pictures = groups.pictures_of(m.session_id)
        assert pictures is not None and pictures.step == run.step_count
        np.testing.assert_allclose(pictures.boundary, run.predict_grid(16), atol=1e-6)
        for got, want in zip(pictures.neuron_grids, run.neuron_grids(8), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-6)
        assert pictures.evaluation.train_loss == pytest.approx(run.evaluate().train_loss, 1e-6)
    groups.train(group, 0.0, first_chunk=1)
    groups.paint_for_frames(group, 16, 8, members[:3])
    groups.train(group, 0.0, first_chunk=1)
    groups.paint_for_frames(group, 16, 8, members[2:3])  # one left: it reads itself
    groups.sync_out("s2")
    assert members[2].pictures is not None  # painted, but a step ago
    assert groups.pictures_of("s2") is None


def test_a_group_s_burst_counts_whole_for_each_member_s_turn() -> None:
    """A group takes its turn on the worker as one lone run does: each member is charged the
    whole burst, or members' turns stay lower than a lone run's and the lone run starves."""
    charged: dict[str, float] = {}
    runs = twins([{}, {}, {}])[0]
    groups, _, group = placed(
        runs, lambda sid, seconds: charged.__setitem__(sid, charged.get(sid, 0) + seconds)
    )
    groups.train(group, 0.0)  # the first burst brings the third run in
    charged.clear()
    started = time.perf_counter()
    groups.train(groups.group_of("s0"), 0.02)  # type: ignore[arg-type]
    took = time.perf_counter() - started
    assert sorted(charged) == ["s0", "s1", "s2"]
    assert len(set(charged.values())) == 1  # level with each other
    assert 0.02 <= charged["s0"] <= took  # the burst's whole time, each


def test_a_class_grouped_at_once_has_every_rollback_point_after_its_first_burst() -> None:
    """A class pressing Play together forms its group at once: no member stepped alone, so
    none has a point a divergence goes back to, and the points kept per burst are budgeted
    (a few members each). A member with none keeps one whatever the budget: else its
    divergence in the next burst failed the whole round on an assertion."""
    runs = twins([{} for _ in range(24)])[0]
    groups, _, group = placed(runs)
    assert all(r.rollback_point is None for r in runs)
    starts = [r.step_count for r in runs]
    groups.train(group, 0.0)
    assert len(group.members) == 24
    points = [r.rollback_point for r in runs]
    assert all(p is not None for p in points)
    assert [p.step for p in points if p is not None] == starts  # kept before the first step
