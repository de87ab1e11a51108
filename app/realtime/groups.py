"""Training groups: playing sessions of one shape stepped as one stacked computation.

A hundred learners at the defaults each cost a Python-bound eager step; stacked, their steps
cost about one (app/training/stacked). A playing session that can group offers itself before
each burst; it forms a group with another waiting session of its shape (a group of one would
only pad an eager step), or joins the existing one at that group's next burst, with every other
newcomer at once. A group trains in rounds (group_rounds.py): one burst for every member, their
pictures painted at once (stacked/pictures.py), then every member's frame. Anything else that
touches a member's engine takes it out of its group first (`withdraw`), or reads it after
`sync_out`, so the engine is whole whenever it is not training in the group: the page cannot
tell which path ran.

Every engine touch of every session holds `lock`: a group's burst writes several sessions'
engines at once, and one worker thread (the default) never waits on it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.protocol import StepFrame
from app.training.change import SettingsChange
from app.training.divergence import Divergence, judge_step
from app.training.session import TrainingSession
from app.training.stacked import RunGroup, RunResult, RunShape, changes_shape, run_shape
from app.training.stacked.pictures import GroupPainter, Pictures
from app.training.stacked.shape import grouping_problem
from app.training.state import restore

# Steps per train_steps call at first; later calls are sized from the measured step time so a
# burst ends near its deadline and a user's change cuts it within a few milliseconds.
FIRST_CHUNK_STEPS = 4
MAX_CHUNK_STEPS = 64
# A group's burst trains for its members' bursts together, up to this long.
MAX_GROUP_BURST_SECONDS = 0.25
# A member's rollback point (and rewind snapshot) is kept at most this often, and a burst
# keeps at most 1/KEEPS_PER_ROUND_DIVISOR of its members' (those waiting longest).
KEEP_EVERY_SECONDS = 1.0
KEEPS_PER_ROUND_DIVISOR = 8
# A member's pending change cuts the group's burst short only after this share of it (and
# this long at least): with a class, some change is nearly always pending.
TRAIN_BEFORE_CUT_SHARE = 0.25
TRAIN_BEFORE_CUT_SECONDS = 0.01
# A paint's cost is its members' share (~0.08 ms each at the defaults, against 0.35 ms for a
# member's own evaluation, boundary and neuron maps) plus ~0.5 ms of fixed calls: fewer
# members than this, each one waiting for its frame reads itself instead.
MIN_PAINTED_MEMBERS = 3


@dataclass
class Member:
    """A playing session that may train in a group."""

    session_id: str
    engine: TrainingSession
    # The session's pending change or stop: a group's burst ends at its next chunk.
    stop: Callable[[], bool]
    divergence: Divergence | None = None
    steps_per_second: float = 0.0
    kept_at: float = -math.inf  # when its rollback point was last kept (monotonic)
    # Its frame's pictures, painted with the whole group's after the group's last burst.
    pictures: Pictures | None = None
    # Someone reads its frames: a round builds frames only for those.
    watched: bool = True
    # Its frame as its play loop builds it (a group's round asks every member for one).
    show: Callable[[], StepFrame | None] = lambda: None
    # The group stepped since the member's last change: the change's quick burst need not
    # train the whole group again (with a class, changes come every few milliseconds).
    trained_since_change: bool = False


@dataclass
class GroupStats:
    """What tests and benchmarks read: how much training took the group path."""

    groups: int
    grouped_sessions: int
    group_bursts: int
    grouped_steps: int


class TrainingGroups:
    def __init__(self, charge: Callable[[str, float], None], reproducible: bool = True) -> None:
        """`charge(session_id, seconds)`: worker time a member had, for its turns."""
        self.lock = threading.RLock()
        self._charge = charge
        self.reproducible = reproducible
        self._groups: dict[RunShape, RunGroup] = {}
        self._painters: dict[RunShape, GroupPainter] = {}
        # Bursts of each shape's group; the resolutions and the burst its members' pictures
        # were painted at, and which members have them (pictures of the group as it is now).
        self._bursts_of: dict[RunShape, int] = {}
        self._painted: dict[RunShape, tuple[tuple[int, int, int], set[str]]] = {}
        self._group_of: dict[str, RunGroup] = {}
        self._members: dict[str, Member] = {}
        self._by_engine: dict[int, Member] = {}  # id(engine) → member: a group lists engines
        # Playing sessions that can group but have no one of their shape to group with yet.
        self._waiting: dict[str, RunShape] = {}
        self._bursts = 0
        self._steps = 0

    def stats(self) -> GroupStats:
        with self.lock:
            return GroupStats(len(self._groups), len(self._group_of), self._bursts, self._steps)

    # ---- membership (on an engine worker, holding `lock`) ------------------------------------

    def place(self, member: Member) -> RunGroup | None:
        """The group `member` trains in now, joining or forming one if it can; None: eager."""
        group = self._group_of.get(member.session_id)
        if group is not None:
            return group
        if grouping_problem(member.engine, phase_pending=False) is not None:
            self._waiting.pop(member.session_id, None)
            return None
        shape = run_shape(member.engine)
        self._waiting[member.session_id] = shape
        if shape in self._groups:
            # It joins at the group's next burst, with every other newcomer of its shape: a
            # join re-stacks the whole group, so a class arriving at once re-stacks it once.
            return None
        if sum(s == shape for s in self._waiting.values()) < 2:
            return None
        return self._regroup(shape)

    def _regroup(self, shape: RunShape) -> RunGroup:
        """The group of `shape` with every waiting run of that shape in it (one re-stack)."""
        newcomers = [i for i, s in self._waiting.items() if s == shape]
        engines = [self._members[i].engine for i in newcomers]
        group = self._groups.get(shape)
        if group is None:
            group = self._groups[shape] = RunGroup(engines, self.reproducible)
        else:
            group.join(*engines)
        for session_id in newcomers:
            del self._waiting[session_id]
            self._group_of[session_id] = group
        return group

    def group_of(self, session_id: str) -> RunGroup | None:
        """Safe to call from any thread without the lock (one dict read): the answer may be
        a moment old, which the group's round allows for."""
        return self._group_of.get(session_id)

    def members_of(self, group: RunGroup) -> list[Member]:
        return [self._member_of(e) for e in group.members]

    def counts(self) -> tuple[int, int]:
        """Groups and grouped sessions, read without the lock (for pacing, from the loop)."""
        return len(self._groups), len(self._group_of)

    def enrol(self, member: Member) -> None:
        """Known as a possible partner, before place() (which may leave it waiting)."""
        if member.session_id not in self._members:
            self._members[member.session_id] = member
            self._by_engine[id(member.engine)] = member

    def withdraw(self, session_id: str) -> None:
        """Out of its group (its engine whole again, where the group left it) and not waiting.
        A group left with one member dissolves: alone, the eager step is faster."""
        self._waiting.pop(session_id, None)
        member = self._members.pop(session_id, None)
        if member is not None:
            self._by_engine.pop(id(member.engine), None)
        group = self._group_of.pop(session_id, None)
        if group is None or member is None:
            return
        if len(group.members) == 2:
            last = next(i for i, g in self._group_of.items() if g is group)
            group.leave(*group.members)
            del self._group_of[last]
        else:
            group.leave(member.engine)
        if not group.members:
            del self._groups[group.shape]
            self._painters.pop(group.shape, None)

    def sync_out(self, session_id: str) -> None:
        """Bring a member's engine up to date with its group (to read it, or change its
        hyper-parameters in place)."""
        group = self._group_of.get(session_id)
        if group is not None:
            group.sync_out(self._members[session_id].engine)

    def apply_change(
        self, session_id: str, engine: TrainingSession, change: SettingsChange
    ) -> None:
        """A live settings change: in place for a member when the shape stays (from the next
        step on, the group's own rows), else out of the group first. On a refusal
        (SettingError) nothing changed."""
        group = self._group_of.get(session_id)
        if group is None or changes_shape(engine, change):
            self.withdraw(session_id)
            engine.apply_change(change)
            return
        group.sync_out(engine)
        engine.apply_change(change)
        group.refresh(engine)
        # Its pictures show it before the change: its next frame reads itself.
        self._members[session_id].pictures = None

    def paint(
        self,
        group: RunGroup,
        boundary_resolution: int,
        neuron_resolution: int,
        members: list[Member] | None = None,
    ) -> None:
        """Every member's frame pictures at once, or those of `members` (one stacked forward
        for all their boundaries, neuron maps and evaluations)."""
        key = (boundary_resolution, neuron_resolution, self._bursts_of.get(group.shape, 0))
        painted = self._painted.get(group.shape)
        if painted is None or painted[0] != key:
            painted = self._painted[group.shape] = (key, set())
        painter = self._painters.setdefault(group.shape, GroupPainter())
        if members is None:
            members = self.members_of(group)
            rows = None
        else:
            row_of = {id(e): k for k, e in enumerate(group.members)}
            rows = [row_of[id(m.engine)] for m in members]
        pictures = painter.paint(group, boundary_resolution, neuron_resolution, rows)
        for member, own in zip(members, pictures, strict=True):
            member.pictures = own
            painted[1].add(member.session_id)

    def pictures_of(self, session_id: str) -> Pictures | None:
        """A member's painted pictures if they show its engine as it is now, else None."""
        member = self._members.get(session_id)
        if member is None or member.pictures is None:
            return None
        pictures, member.pictures = member.pictures, None
        return pictures if pictures.step == member.engine.step_count else None

    def paint_for_frames(
        self,
        group: RunGroup,
        boundary_resolution: int,
        neuron_resolution: int,
        waiting: list[Member],
    ) -> None:
        """Before some of a round's frames (`waiting`: the watched members of the group whose
        frames are still to come): paint those whose pictures do not show them as they are
        now (a change's quick burst steps the whole group mid-round), if enough to pay."""
        key = (boundary_resolution, neuron_resolution, self._bursts_of.get(group.shape, 0))
        painted = self._painted.get(group.shape)
        done = painted[1] if painted is not None and painted[0] == key else set()
        stale = [
            m
            for m in waiting
            if m.session_id not in done and self._group_of.get(m.session_id) is group
        ]
        if len(stale) >= min(MIN_PAINTED_MEMBERS, len(group.members)):
            self.paint(group, boundary_resolution, neuron_resolution, stale)

    # ---- training -----------------------------------------------------------------------------

    def train(
        self, group: RunGroup, seconds: float, first_chunk: int = FIRST_CHUNK_STEPS
    ) -> list[Member]:
        """One burst of every member (at least one step), newcomers of its shape taken in
        first, cut short by any member's pending change. Returns the members that diverged
        (rolled back and out of the group, or stopped)."""
        if group.shape in self._waiting.values():
            group = self._regroup(group.shape)
        members = [self._member_of(e) for e in group.members]
        self._keep_rollback_points(group, members)
        started = time.perf_counter()
        deadline = started + min(seconds, MAX_GROUP_BURST_SECONDS)
        cut_from = started + min(
            seconds, max(TRAIN_BEFORE_CUT_SECONDS, seconds * TRAIN_BEFORE_CUT_SHARE)
        )
        chunk, steps = first_chunk, 0
        diverged: list[RunResult] = []
        while True:
            chunk_started = time.perf_counter()
            results = group.train_steps(chunk)
            done = len(results[0].losses)
            steps += done
            diverged = [r for r in results if r.diverged_at is not None]
            now = time.perf_counter()
            if diverged or now >= deadline:
                break
            if now >= cut_from and any(m.stop() for m in members):
                break
            per_step = (now - chunk_started) / max(1, done)
            chunk = max(1, min(MAX_CHUNK_STEPS, int((deadline - now) / per_step)))
        elapsed = time.perf_counter() - started
        self._bursts += 1
        self._bursts_of[group.shape] = self._bursts_of.get(group.shape, 0) + 1
        self._steps += steps * len(members)
        for m in members:
            m.trained_since_change = True
            m.steps_per_second = steps / elapsed if elapsed > 0 else 0.0
            # The whole burst, not a share: a group is one taker of the worker's turns, as a
            # lone run is (GroupRounds.burst_seconds). Charged a 1/K share, members' turns
            # stayed K times lower than a lone run's, and a run alone (the first of its shape
            # to play, in a mixed class) waited behind every round for 15 s and more.
            self._charge(m.session_id, elapsed)
        return [self._diverged(group, r) for r in diverged]

    def step_alone(self, session_id: str) -> None:
        """One eager step of a member, taken back into its group's rows: a change's quick
        burst. The group does not step (a step of 100 runs costs ~4 of one), so the others'
        pictures stay theirs; a divergence is judged and shown as the eager burst's would be."""
        group = self._group_of[session_id]
        member = self._members[session_id]
        engine = member.engine
        group.sync_out(engine)
        if engine.rollback_point is None:  # a newcomer the group has not captured yet
            engine.keep_rollback_point()
        loss = engine.train_step()
        group.take_back(engine)
        member.trained_since_change = True
        verdict = judge_step(
            engine.step_count, loss, engine.model, engine.training_loss, engine.divergence_reference
        )
        if verdict is None:
            return
        self.withdraw(session_id)
        diverged_at = restored = engine.step_count
        point = engine.rollback_point
        if verdict.roll_back and point is not None:  # None: weights unusable from the start
            restore(engine, point)
            restored = point.step
        member.divergence = Divergence(diverged_at, restored, verdict.reason)

    def _keep_rollback_points(self, group: RunGroup, members: list[Member]) -> None:
        """The state a divergence rolls back to, as an eager burst keeps at its start: but at
        most every KEEP_EVERY_SECONDS (a capture costs about a grouped step per member), so a
        diverged run may go back a few bursts further than it would alone."""
        now = time.monotonic()
        due = [m for m in members if now - m.kept_at >= KEEP_EVERY_SECONDS]
        # The longest-waiting few each burst: 100 captures at once held one round up ~90 ms.
        due.sort(key=lambda m: m.kept_at)
        budget = max(1, math.ceil(len(members) / KEEPS_PER_ROUND_DIVISOR))
        # Whatever the budget, a member with no point at all (a class that pressed Play
        # together: nobody stepped alone first) keeps one: a divergence must go back somewhere.
        keep = due[:budget] + [m for m in due[budget:] if m.engine.rollback_point is None]
        for m in keep:
            group.sync_out(m.engine)
            m.engine.keep_rollback_point()
            m.kept_at = now

    def _member_of(self, engine: TrainingSession) -> Member:
        return self._by_engine[id(engine)]

    def _diverged(self, group: RunGroup, result: RunResult) -> Member:
        """As an eager burst does: a state no longer usable goes back to the burst's start."""
        member = self._member_of(result.session)
        assert result.diverged_at is not None and result.verdict is not None
        self.withdraw(member.session_id)
        engine = member.engine
        restored = result.diverged_at
        if result.verdict.roll_back:
            point = engine.rollback_point
            assert point is not None, "train() keeps every member's rollback point first"
            restore(engine, point)
            restored = point.step
        member.divergence = Divergence(result.diverged_at, restored, result.verdict.reason)
        return member
