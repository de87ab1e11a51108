"""A training group's rounds: one engine job trains every member, then a few jobs paint their
pictures and build every member's frame; each member's play loop awaits that round and
publishes its own.

One job a round instead of one a member: with a job each, 100 learners' play loops took turns
on the worker one frame at a time, each hop to the worker and back (and the group trained
whenever any member came round again, ahead of the others' pages) costing more than the frame
itself: 170 ms a round, ~3 frames/s, against ~40 ms of frames built in one go (measured here).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from app.protocol import StepFrame
from app.realtime.frames import neuron_resolution
from app.realtime.groups import Member, TrainingGroups
from app.realtime.scheduler import EngineScheduler
from app.settings import Settings
from app.training.stacked import RunGroup

# While every playing run's frame fits in a quarter of a frame interval, a round of all of them is
# one interval; beyond that it stretches to this, so each still gets 10 frames a second
# (with room for the event loop) and training keeps most of the round.
LOADED_ROUND_SECONDS = 1 / 12
MIN_GROUP_BURST_SECONDS = 0.002
MAX_GROUP_BURST_SECONDS = 0.25
# When the frames alone fill the round, training still gets this share of their time. With
# 100 learners (2026-12-07, bench class): 0.5 gave 5.0 epochs/s and 2.6 frames/s each, 0.75
# gave 7.8 and 2.5, 1.0 gave 8.7 and 2.2: a round's fixed costs (its paint, the changes'
# quick bursts in between) weigh less in longer rounds.
MIN_TRAINING_PER_FRAME_SECOND = 0.75

# Members whose frames one engine job builds: between two such jobs a user's change (an
# urgent job) gets the worker, so it waits for a few frames, not for a whole class's.
FRAMES_PER_JOB = 8

log = logging.getLogger(__name__)


class GroupRound:
    """One round of a group under way: each member's frame as soon as it is built."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self._frames: dict[str, asyncio.Future[StepFrame | None]] = {}
        self._wakers: dict[str, asyncio.Future[None]] = {}
        self.taken: set[str] = set()  # members whose loop has asked this round for its frame
        self.finished: asyncio.Future[None] = loop.create_future()
        self.driver: asyncio.Task[None] | None = None  # kept referenced while it runs

    def frame_of(self, session_id: str) -> asyncio.Future[StepFrame | None]:
        future = self._frames.get(session_id)
        if future is None:
            future = self._frames[session_id] = asyncio.get_running_loop().create_future()
            if self.finished.done():
                future.set_result(None)
        return future

    def resolve(self, session_id: str, frame: StepFrame | None) -> None:
        future = self.frame_of(session_id)
        if not future.done():
            future.set_result(frame)

    def released(self, session_id: str) -> bool:
        """Its frame of this round is settled already (a change released it): none to build."""
        future = self._frames.get(session_id)
        return future is not None and future.done()

    def waker(self, session_id: str) -> asyncio.Future[None]:
        """Done when the round ends, or earlier when wake() is called for this member."""
        future = self._wakers.get(session_id)
        if future is None:
            future = self._wakers[session_id] = asyncio.get_running_loop().create_future()
            if self.finished.done():
                future.set_result(None)
        return future

    def wake(self, session_id: str) -> None:
        future = self.waker(session_id)
        if not future.done():
            future.set_result(None)

    def finish(self) -> None:
        for waker in self._wakers.values():
            if not waker.done():
                waker.set_result(None)
        for future in self._frames.values():
            if not future.done():
                future.set_result(None)
        if not self.finished.done():
            self.finished.set_result(None)


class GroupRounds:
    """The rounds under way of every group, shared by all play loops (`rounds`: by group)."""

    def __init__(
        self,
        groups: TrainingGroups,
        scheduler: EngineScheduler,
        settings: Settings,
        rounds: dict[int, GroupRound],
    ) -> None:
        self._groups = groups
        self._scheduler = scheduler
        self._settings = settings
        self._rounds = rounds

    async def frame(
        self,
        session_id: str,
        turn: float,
        frame_seconds: float,
        playing: int,
        interrupted: Callable[[], bool],
    ) -> tuple[bool, StepFrame | None]:
        """(True, this member's frame of its group's next round: None if it built none or
        the member was `interrupted` by a change, see release()), or (False, None) when it
        trains in no group. `playing`: runs on the workers."""
        while (group := self._groups.group_of(session_id)) is not None:
            if interrupted():
                return True, None
            current = self._rounds.get(id(group))
            if current is None or current.finished.done():
                current = self._start(group, turn, frame_seconds, playing)
            if session_id in current.taken:
                # Its frame of this round is shown: the next round starts when this one ends.
                await asyncio.shield(current.waker(session_id))
                if interrupted():
                    return True, None
                # Woken for an earlier change: the round's end is still to come.
                await asyncio.shield(current.finished)
                continue
            current.taken.add(session_id)
            return True, await asyncio.shield(current.frame_of(session_id))
        return False, None

    def release(self, session_id: str) -> None:
        """A change came: the member's loop stops waiting for this round's frame (built before
        the change, it would be dropped) and goes on to the change's own short burst."""
        group = self._groups.group_of(session_id)
        current = None if group is None else self._rounds.get(id(group))
        # And any round still under way that the member waits on: when another member left,
        # its group may have been dissolved or re-formed since, and then group_of no longer
        # leads to that round (a stop waited for its end; a test's never-ending round hung).
        waited_on = [r for r in self._rounds.values() if session_id in r.taken]
        for held in {id(r): r for r in [*([current] if current else []), *waited_on]}.values():
            if not held.finished.done():
                held.resolve(session_id, None)
                held.wake(session_id)

    def _start(
        self, group: RunGroup, turn: float, frame_seconds: float, playing: int
    ) -> GroupRound:
        for key in [k for k, r in self._rounds.items() if r.finished.done()]:
            del self._rounds[key]
        current = self._rounds[id(group)] = GroupRound()
        seconds = self.burst_seconds(group, frame_seconds, playing)
        current.driver = asyncio.create_task(self._drive(current, group, seconds, turn))
        return current

    def burst_seconds(self, group: RunGroup, frame_seconds: float, playing: int) -> float:
        """A round's training time: its share of a round of every group and lone run on the
        workers, less its members' frames."""
        interval = self._settings.frame_interval_seconds
        loaded = playing * frame_seconds > interval / 4
        round_seconds = max(interval, LOADED_ROUND_SECONDS) if loaded else interval
        groups, grouped = self._groups.counts()
        takers = groups + max(0, playing - grouped)
        share = round_seconds * self._scheduler.workers / max(1, takers)
        frames = len(group.members) * frame_seconds
        # When the frames alone fill the round, training still gets a share of their time:
        # fewer frames a second, but every learner's run keeps moving.
        left = max(share - frames, frames * MIN_TRAINING_PER_FRAME_SECOND)
        return min(MAX_GROUP_BURST_SECONDS, max(MIN_GROUP_BURST_SECONDS, left))

    async def _drive(
        self, current: GroupRound, group: RunGroup, seconds: float, turn: float
    ) -> None:
        """The round: one job trains, then jobs of FRAMES_PER_JOB frames each (the first one
        paints the group's pictures)."""
        try:
            train = functools.partial(self._train, group, seconds)
            members = await asyncio.wrap_future(self._scheduler.submit(train, turn=turn).future)
            for i in range(0, len(members), FRAMES_PER_JOB):
                # A member whose change came during the round shows it in its own burst's
                # frame: this one would be dropped (with a class, a change lands in most rounds).
                chunk = [
                    m for m in members[i : i + FRAMES_PER_JOB] if not current.released(m.session_id)
                ]
                to_come = [m for m in members[i:] if not current.released(m.session_id)]
                if not chunk:
                    continue
                waiting = [
                    m for m in to_come if m.watched and self._groups.group_of(m.session_id) is group
                ]
                build = functools.partial(self._frames, group, chunk, waiting)
                frames = await asyncio.wrap_future(self._scheduler.submit(build, turn=turn).future)
                for session_id, frame in frames.items():
                    current.resolve(session_id, frame)
        except RuntimeError:
            pass  # the workers stopped: the server is closing
        except Exception:
            log.exception("a training group's round failed")
        finally:
            current.finish()

    def _train(self, group: RunGroup, seconds: float) -> list[Member]:
        """On the worker: the group's burst; the members whose frames the round builds (a
        diverged one's too, to show it)."""
        groups = self._groups
        with groups.lock:
            if not group.members:  # dissolved while the job waited
                return []
            diverged = groups.train(group, seconds)
            return [*groups.members_of(group), *diverged]

    def _frames(
        self, group: RunGroup, members: list[Member], waiting: list[Member]
    ) -> dict[str, StepFrame | None]:
        """On the worker: frames of some of the round's members, from the group's pictures.
        Painted here, not with the burst: the changes that cut the burst short and their quick
        bursts (urgent jobs) come in between, and a step after the paint would leave it stale."""
        groups = self._groups
        with groups.lock:
            if group.members:
                requested = self._settings.neuron_map_resolution
                neurons = neuron_resolution(group.members[0], requested)
                groups.paint_for_frames(group, self._settings.boundary_resolution, neurons, waiting)
            return {m.session_id: m.show() for m in members}
