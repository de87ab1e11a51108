"""The play loop of one live session: bursts of training on a worker, paced to the frame beat.

Every touch of the engine goes through EngineLock, so commands land between bursts, never inside
one; a command cuts the running burst short, so its change shows in the very next frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from app.protocol import RunStatus, StepFrame
from app.realtime.backprop import BackpropChannel
from app.realtime.engine_lock import EngineLock, Touch
from app.realtime.fanout import Pages
from app.realtime.frame_builder import FrameBuilder
from app.realtime.group_rounds import GroupRounds
from app.realtime.groups import Member
from app.realtime.scheduler import Job
from app.realtime.surface_runner import SurfaceRunner
from app.realtime.turns import FLOOR_BURST_SECONDS, MIN_BURST_SECONDS, PlayingSessions
from app.settings import Settings
from app.training.change import SettingsChange
from app.training.session import BurstResult, Divergence, Evaluation, TrainingSession
from app.training.stacked.pictures import Pictures

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bounds one burst when the frame interval is long; a step is ~0.15–0.5 ms.
MAX_STEPS_PER_BURST = 100_000
# A run whose pages all stopped reading trains on, but its turns count this many times over:
# watched runs go first.
UNWATCHED_CHARGE_FACTOR = 8.0


class PlayLoop:
    """Runs while the status is "running"; `status` and `message` are the run's, for frames."""

    def __init__(
        self,
        session_id: str,
        engine: TrainingSession,
        settings: Settings,
        engine_lock: EngineLock,
        playing: PlayingSessions,
        pages: Pages,
        surfaces: SurfaceRunner,
        backprop: BackpropChannel,
    ) -> None:
        self.session_id = session_id
        self.engine = engine
        self.settings = settings
        self.status: RunStatus = "idle"
        self.message: str | None = None
        self.builder = FrameBuilder(engine, settings, playing)
        self._engine_lock = engine_lock
        self._scheduler = engine_lock.scheduler
        self._playing = playing
        self._pages = pages
        self._surfaces = surfaces
        self._backprop = backprop
        self._task: asyncio.Task[None] | None = None
        self._steps_per_second = 0.0
        # When this session's next frame is due, while it has a worker to itself: bursts end
        # on a fixed beat, so a late frame makes the next burst shorter instead of drifting.
        self._frame_due: float | None = None
        # Set while a command waits: the running burst ends at its next step, so a change
        # shows up in the very next frame instead of after a whole burst.
        self._interrupt = threading.Event()
        self._quick_burst = False
        # Counts commands: a group round's frame built across one is dropped. While one is
        # pending, the loop waits for it on the engine lock (the command holds it).
        self._generation = 0
        self._commands_pending = 0
        # The loop's burst while it waits for a worker: a command moves it forward.
        self._waiting_burst: Job[StepFrame | None] | None = None
        self._groups = playing.groups
        self._member = Member(session_id, engine, self._interrupt.is_set, show=self._round_frame)
        self._rounds = GroupRounds(playing.groups, self._scheduler, settings, playing.group_rounds)
        engine_lock.bind(self._groups, session_id)
        # Run N steps: how many are still to train before the run pauses (None: play on). Kept
        # while stopped, so a run that nobody watched for a while goes on to its N when resumed;
        # Play and Run set it afresh.
        self._steps_left: int | None = None
        # Told after every burst and every published frame: the run moved on (its store writer).
        self.on_change: Callable[[], None] = lambda: None

    # ---- on the event loop ------------------------------------------------------------------

    def count_steps(self, steps: int | None) -> None:
        """Between bursts (holding the engine lock): play exactly `steps` more steps and pause
        there, or with None play on."""
        self._steps_left = steps

    def start(self) -> None:
        self.status = "running"
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"play-{self.session_id}")

    async def stop(self, status: RunStatus) -> None:
        if self.status != "diverged" or status == "idle":
            self.status = status
        task, self._task = self._task, None
        if task is not None:
            # The loop ends after its current burst (cut short); waiting keeps commands ordered.
            # In a group it waits for no round's frame: a class's lesson stops every member,
            # and each waiting for its frame behind the others' stops and rebuilds, the last
            # of 100 took the lesson 2-14 s late (python -m bench room; now ~1 s).
            self._generation += 1
            self._rounds.release(self.session_id)
            self._cut_burst_short()
            await asyncio.wait({task})
            self._interrupt.clear()

    def publish(self, frame: StepFrame) -> None:
        self._pages.offer(frame)
        self._surfaces.on_frame(frame.step)
        self.on_change()

    async def command(self, work: Callable[[], T], touch: Touch = "whole") -> T:
        """A user's change: cut the running burst short, apply, then train a short burst so
        the first frame computed with the change arrives within a few milliseconds."""
        self._generation += 1
        self._commands_pending += 1
        self._rounds.release(self.session_id)
        self._cut_burst_short()

        def apply() -> T:
            self._interrupt.clear()
            self._member.trained_since_change = False
            return work()

        try:
            return await self._engine_lock.run(apply, touch)
        finally:
            self._commands_pending -= 1
            self._quick_burst = True

    def apply_change(self, change: SettingsChange) -> None:
        """On the worker, in a command: live settings, in place when training in a group."""
        self._groups.apply_change(self.session_id, self.engine, change)

    async def _loop(self) -> None:
        interval = self.settings.frame_interval_seconds
        self._playing.join(self.session_id)
        try:
            while self.status == "running":
                began = time.perf_counter()
                frame = await self._play_burst(interval)
                if frame is not None:
                    self.publish(frame)
                else:
                    self.on_change()
                await self._keep_the_pace(began, interval)
        except Exception:
            log.exception("training loop of session %s failed", self.session_id)
            self.status = "paused"
            self.message = "training stopped on an internal error; press Play to try again"
            self._pages.broadcast_error(None, self.message)
        finally:
            self._playing.leave(self.session_id)
            await self._leave_group()

    async def _leave_group(self) -> None:
        """A run that stops playing trains no more with its group."""

        def leave() -> None:
            with self._groups.lock:
                self._groups.withdraw(self.session_id)

        with contextlib.suppress(RuntimeError):  # the workers stopped: the server is closing
            await self._scheduler.run(leave, urgent=True)

    async def _keep_the_pace(self, began: float, interval: float) -> None:
        """A paced burst ends when its steps are done, long before the frame's time is up:
        the next one waits for the beat, so the pace is steps per frame, not per burst."""
        if self.status == "running" and self.engine.config.training.steps_per_frame:
            await asyncio.sleep(max(0.0, began + interval - time.perf_counter()))

    def _burst_steps(self) -> int:
        """The most steps the next burst may train: the pace's, and no further than a Run N
        steps goes."""
        limit = self.engine.config.training.steps_per_frame or MAX_STEPS_PER_BURST
        return limit if self._steps_left is None else min(limit, self._steps_left)

    def _counts_its_steps(self) -> bool:
        """A paced run, or one running N steps, stops at its own step: it trains alone (a
        group's burst gives every member the same steps)."""
        return bool(self.engine.config.training.steps_per_frame) or self._steps_left is not None

    async def _play_burst(self, interval: float) -> StepFrame | None:
        """One burst of the play loop and its frame: in its turn in the round, or, right after
        a change, short and at once: its frame is the first one computed with the change. A
        run in a training group gets its frame from the group's round, without its engine
        lock (a change goes ahead; the round's frame, from before it, is dropped)."""
        if not self._quick_burst and not self._commands_pending:
            generation = self._generation
            self._member.watched = not self._pages.all_stalled(time.monotonic())
            playing = self._playing
            grouped, frame = await self._rounds.frame(
                self.session_id,
                playing.turn(self.session_id),
                playing.frame_seconds,
                len(playing.used),
                lambda: generation != self._generation,
            )
            if grouped:
                return frame if generation == self._generation else None
        async with self._engine_lock.lock:
            # Decided holding the lock, so a change applied while this waited for it counts.
            quick, self._quick_burst = self._quick_burst, False
            seconds = MIN_BURST_SECONDS
            if quick:
                self._frame_due = None  # the change's frame starts a new beat
            elif self._playing.worker_each():
                seconds = self._on_the_beat(interval)
            else:
                self._frame_due = None
                seconds = self._playing.burst_seconds(interval)
            # Pages that stopped reading would only have an unread frame replaced: train on
            # without building one, and leave the time to sessions someone watches.
            watched = not self._pages.all_stalled(time.monotonic())
            turn = self._playing.turn(self.session_id)
            burst = functools.partial(self._burst, seconds, quick, watched)
            job = self._scheduler.submit(burst, urgent=quick, turn=turn)
            self._waiting_burst = job
            try:
                return await asyncio.wrap_future(job.future)
            finally:
                self._waiting_burst = None

    def _on_the_beat(self, interval: float) -> float:
        """Training seconds of a burst whose frame should be out at the next beat."""
        now = time.perf_counter()
        due = now + interval if self._frame_due is None else self._frame_due + interval
        if due - now < MIN_BURST_SECONDS + self._playing.frame_seconds:
            due = now + interval  # fallen behind (a slow frame, a busy core): a new beat
        self._frame_due = due
        return max(FLOOR_BURST_SECONDS, due - now - self._playing.frame_seconds)

    def _cut_burst_short(self) -> None:
        """The running burst ends at its next step; a waiting one runs at once (for one step)."""
        self._interrupt.set()
        if self._waiting_burst is not None:
            self._scheduler.promote(self._waiting_burst)

    # ---- on the worker thread, holding the engine lock --------------------------------------

    def _burst(self, seconds: float, quick: bool, watched: bool) -> StepFrame | None:
        """A play loop's burst: in the group of its shape if it can, else alone."""
        groups = self._groups
        with groups.lock:
            if self._member.divergence is not None:  # found in a group's burst: shown now
                return self._grouped_frame(watched, time.perf_counter())
            group = None
            if not self._counts_its_steps() and self.settings.training_groups:
                groups.enrol(self._member)
                group = groups.place(self._member)
            else:
                groups.withdraw(self.session_id)
            if group is not None:
                return self._grouped_burst(quick, watched)
            if watched:
                return self.burst_frame(self._burst_steps(), seconds)
            return self._burst_unwatched(seconds)

    def _grouped_burst(self, quick: bool, watched: bool) -> StepFrame | None:
        """A member's own burst beside its group's rounds (group_rounds.py): right after a
        change, one step of its own and its frame, the first computed with the change;
        otherwise (the loop saw the member before it joined) only its frame."""
        if quick and not self._member.trained_since_change:
            # One step of this member alone (a round since the change trained with it
            # already): with a class, changes come every few milliseconds, and a step of the
            # whole group for each would cost more, and leave the others' pictures stale.
            self._groups.step_alone(self.session_id)
        return self._grouped_frame(watched, time.perf_counter())

    def _round_frame(self) -> StepFrame | None:
        """This member's frame in its group's round, on the worker."""
        return self._grouped_frame(self._member.watched, time.perf_counter())

    def _grouped_frame(self, watched: bool, started: float) -> StepFrame | None:
        member = self._member
        divergence, member.divergence = member.divergence, None
        if divergence is not None:
            self._show_divergence(divergence)
        elif not watched:
            return None
        self._groups.sync_out(self.session_id)
        pictures = self._groups.pictures_of(self.session_id)
        evaluation = self.engine.evaluate() if pictures is None else pictures.evaluation
        self.engine.record_losses(evaluation)
        self._steps_per_second = member.steps_per_second
        frame = self.frame(evaluation, pictures)
        used = time.perf_counter() - started
        if not self._interrupt.is_set():
            self._playing.measured(used)
        self._playing.charge(self.session_id, used)
        return frame

    def frame(
        self, evaluation: Evaluation | None = None, pictures: Pictures | None = None
    ) -> StepFrame:
        """The frame of the engine as it is, which every page will see: so it is also a point
        of the optimizer's path on the loss surface, and brings the phase state up to date."""
        frame = self.builder.build(
            self.status, self.message, self._steps_per_second, evaluation, pictures
        )
        self._surfaces.record(frame.train_loss, None if pictures is None else pictures.flat_params)
        frame.phase = self._backprop.refresh(running=self.status == "running")
        return frame

    def frame_unless_running(self) -> StepFrame | None:
        """After a change: playing, the next burst's frame shows it (one frame, not two)."""
        return None if self.status == "running" else self.frame()

    def burst_frame(self, max_steps: int, seconds: float | None = None) -> StepFrame:
        """Train for `seconds` (a play loop's burst) or `max_steps`, then build the frame."""
        started = time.perf_counter()
        deadline = None if seconds is None else started + seconds
        result = self._train(max_steps, started, deadline)
        frame = self.frame(result.evaluation)
        built_at = time.perf_counter()
        if deadline is not None and not self._interrupt.is_set():
            # What this frame cost besides training: bursts are shortened by it.
            self._playing.measured(max(0.0, built_at - deadline))
        self._playing.charge(self.session_id, built_at - started)
        return frame

    def _burst_unwatched(self, seconds: float) -> StepFrame | None:
        """A burst for pages that stopped reading: a frame only if the run diverged, and the
        time charged UNWATCHED_CHARGE_FACTOR times, so sessions someone watches go first."""
        started = time.perf_counter()
        result = self._train(self._burst_steps(), started, started + seconds)
        used = time.perf_counter() - started
        self._playing.charge(self.session_id, used * UNWATCHED_CHARGE_FACTOR)
        return self.frame(result.evaluation) if self.status != "running" else None

    def _train(self, max_steps: int, started: float, deadline: float | None) -> BurstResult:
        """One burst of the engine; the speed it went at, and a divergence told in words."""
        result = self.engine.burst(max_steps, deadline, self._interrupt.is_set)
        elapsed = time.perf_counter() - started
        if self.engine.config.training.steps_per_frame:
            # A paced burst's frame waits for the beat: the speed shown is the pace kept.
            elapsed = max(elapsed, self.settings.frame_interval_seconds)
        if result.steps and elapsed > 0:
            self._steps_per_second = result.steps / elapsed
        if self._steps_left is not None and self.status == "running":
            self._steps_left -= result.steps
            if self._steps_left <= 0 and result.divergence is None:
                self.status = "paused"
                self.message = f"Ran the steps asked for: paused at step {self.engine.step_count}."
        if result.divergence is not None:
            self._show_divergence(result.divergence)
        return result

    def _show_divergence(self, d: Divergence) -> None:
        self.status = "diverged"
        restored = (
            f" The parameters of step {d.restored_step} were kept."
            if d.restored_step != d.step
            else ""
        )
        self.message = (
            f"Diverged at step {d.step}: {d.reason} with learning rate "
            f"{self.engine.config.training.learning_rate:g}.{restored} "
            "Lower the learning rate and press Play."
        )
