"""A live session: one TrainingSession driven in bursts on a worker thread, fanned out to pages."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from app.protocol import (
    ConfigureRequest,
    ControlRequest,
    EditPointsRequest,
    ErrorFrame,
    InspectionFrame,
    InspectRequest,
    RaceRequest,
    RewindRequest,
    RewoundFrame,
    RunStatus,
    SampleFrame,
    SampleRequest,
    ServerModel,
    SetRequest,
    SettingsFrame,
    StepFrame,
    SurfaceFrame,
    SurfaceRequest,
)
from app.realtime.backprop import BackpropChannel
from app.realtime.frames import data_frame, loss_points, step_frame
from app.realtime.health_frames import FrameHealth, frame_health, runs_frame
from app.realtime.inspection import inspect_point
from app.realtime.race_runner import RaceRunner
from app.realtime.sample_frames import sample_frame
from app.realtime.scheduler import EngineScheduler, Job
from app.realtime.surface_runner import SurfaceRunner
from app.realtime.turns import FLOOR_BURST_SECONDS, MIN_BURST_SECONDS, PlayingSessions
from app.settings import Settings
from app.training.config import LabConfig
from app.training.csv_data import dataset_from_csv
from app.training.datasets import Dataset
from app.training.session import BurstResult, Evaluation, TrainingSession

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bounds one burst when the frame interval is long; a step is ~0.15–0.5 ms.
MAX_STEPS_PER_BURST = 100_000
# A page whose frame has waited unread this long is stalled (its socket is full).
STALLED_PAGE_SECONDS = 0.5
# Its run trains on, but its turns count this many times over: watched runs go first.
UNWATCHED_CHARGE_FACTOR = 8.0


class Subscriber:
    """One page's view of a session: only the *latest* frame is kept, so a slow page gets
    fewer, newer frames and never a growing queue. Messages like errors queue (bounded)."""

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()
        self.outbox: deque[ServerModel] = deque(maxlen=32)
        self.frame: StepFrame | None = None
        self.waiting_since = 0.0  # when the unread frame (the first of those it replaced) came
        # Like frames, only the newest loss surface waits to be sent.
        self.surface: SurfaceFrame | None = None
        self.history_generation = -1
        self.history_sent = 0
        self.data_version = -1
        self.runs_version = -1
        # Versions of the autograd graph and code listing this page has (BackpropChannel).
        self.backprop_sent: dict[str, int] = {}

    def send(self, message: ServerModel) -> None:
        self.outbox.append(message)
        self.wakeup.set()

    def offer(self, frame: StepFrame) -> None:
        if self.frame is None:
            self.waiting_since = time.monotonic()
        self.frame = frame
        self.wakeup.set()

    def stalled(self, now: float) -> bool:
        """This page has left a frame unread for STALLED_PAGE_SECONDS (its socket is full)."""
        return self.frame is not None and now - self.waiting_since > STALLED_PAGE_SECONDS

    def offer_surface(self, surface: SurfaceFrame) -> None:
        self.surface = surface
        self.wakeup.set()


class LiveSession:
    def __init__(
        self,
        session_id: str,
        engine: TrainingSession,
        settings: Settings,
        scheduler: EngineScheduler,
        background: Executor,
        playing: PlayingSessions | None = None,
    ) -> None:
        """`scheduler` runs every touch of the engine; `background` the loss surfaces and races,
        which work on copies and must not hold up a round of training."""
        self.id = session_id
        self.engine = engine
        self.settings = settings
        self.status: RunStatus = "idle"
        self.message: str | None = None
        self.subscribers: set[Subscriber] = set()
        self.detached_at: float | None = time.monotonic()
        self.data_version = 0
        self._scheduler = scheduler
        self._playing = playing or PlayingSessions(scheduler.workers)
        # Serialises every touch of the engine: commands land between bursts, never inside one.
        self._engine_lock = asyncio.Lock()
        self._play_task: asyncio.Task[None] | None = None
        self._resume_on_attach = False
        self._steps_per_second = 0.0
        # When this session's next frame is due, while it has a worker to itself: bursts end
        # on a fixed beat, so a late frame makes the next burst shorter instead of drifting.
        self._frame_due: float | None = None
        # Set while a command waits: the running burst ends at its next step, so a change
        # shows up in the very next frame instead of after a whole burst.
        self._interrupt = threading.Event()
        self._health_cache: tuple[float, int, FrameHealth] | None = None
        self._health_version = 0
        self._quick_burst = False
        # The play loop's burst while it waits for a worker: a command moves it forward.
        self._waiting_burst: Job[StepFrame | None] | None = None
        self.landscape = SurfaceRunner(
            engine, background, self._on_engine, self._publish_surface, self.broadcast_error
        )
        self.race = RaceRunner(
            engine,
            background,
            self._on_engine,
            lambda: self.landscape.latest,
            self._send_to_all,
            self.broadcast_error,
        )
        self.backprop = BackpropChannel(engine)
        engine.timeline.max_bytes = settings.history_max_bytes
        engine.timeline.recent = settings.history_recent_snapshots

    # ---- pages ------------------------------------------------------------------------------

    async def attach(self) -> Subscriber:
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        self.detached_at = None
        subscriber.offer(await self._on_engine(self._frame))
        if self._resume_on_attach:
            self._resume_on_attach = False
            self._start_playing()
        return subscriber

    async def detach(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            self.detached_at = time.monotonic()
            # Nobody watching: stop burning a core, and carry on when the page comes back.
            if self.status == "running":
                self._resume_on_attach = True
                await self._stop_playing("paused")

    def render(self, subscriber: Subscriber) -> list[str]:
        """Everything this page has not yet received, as JSON texts, oldest first."""
        out = [m.model_dump_json() for m in subscriber.outbox]
        subscriber.outbox.clear()
        if subscriber.data_version != self.data_version:
            subscriber.data_version = self.data_version
            out.append(data_frame(self.engine).model_dump_json())
        if subscriber.runs_version != self.engine.timeline.version:
            subscriber.runs_version = self.engine.timeline.version
            out.append(runs_frame(self.engine).model_dump_json())
        out.extend(m.model_dump_json() for m in self.backprop.unsent(subscriber.backprop_sent))
        surface, subscriber.surface = subscriber.surface, None
        if surface is not None:
            out.append(surface.model_dump_json())
        frame, subscriber.frame = subscriber.frame, None
        if frame is not None:
            history, generation = self.engine.history, self.engine.history_generation
            reset = generation != subscriber.history_generation
            start = 0 if reset else subscriber.history_sent
            # Only points up to this frame's step: later ones go with the next frame.
            new = [r for r in history[start:] if r.step <= frame.step]
            subscriber.history_generation = generation
            subscriber.history_sent = start + len(new)
            update = {"losses": loss_points(new), "losses_reset": reset}
            out.append(frame.model_copy(update=update).model_dump_json())
        return out

    def _publish(self, frame: StepFrame) -> None:
        for subscriber in self.subscribers:
            subscriber.offer(frame)
        self.landscape.on_frame(frame.step)

    def _publish_surface(self, surface: ServerModel) -> None:
        assert isinstance(surface, SurfaceFrame)
        for subscriber in self.subscribers:
            subscriber.offer_surface(surface)
        self.race.on_surface()

    def _send_to_all(self, message: ServerModel) -> None:
        for subscriber in self.subscribers:
            subscriber.send(message)

    def confirm_settings(self, request_id: int | None = None) -> None:
        """Every page learns the settings now in force (and the requester its request's id)."""
        self._send_to_all(
            SettingsFrame(
                config=self.engine.config,
                skip_zero_grad=self.backprop.stepper.skip_zero_grad,
                request_id=request_id,
            )
        )

    def broadcast_error(self, field: str | None, message: str) -> None:
        for subscriber in self.subscribers:
            subscriber.send(ErrorFrame(field=field, message=message))

    # ---- commands ---------------------------------------------------------------------------

    async def configure(self, request: ConfigureRequest) -> None:
        was_running = self.status == "running"
        await self._stop_playing("idle")
        self.race.new_run()

        def rebuild() -> StepFrame:
            self.engine.rebuild(data=request.data, model=request.model)
            return self._frame()

        frame = await self._on_engine(rebuild)
        if request.data is not None:
            self.data_version += 1
        self.message = None
        self.confirm_settings(request.request_id)
        self._publish(frame)
        if was_running:
            self._start_playing()

    async def set(self, request: SetRequest) -> None:
        def apply() -> StepFrame | None:
            # The whole change or none of it: the engine refuses before touching anything.
            self.engine.apply_change(request.settings_change())
            if request.skip_zero_grad is not None:
                self.backprop.stepper.skip_zero_grad = request.skip_zero_grad
            return self._frame_unless_running()

        frame = await self._command(apply)
        self.confirm_settings(request.request_id)
        if frame is not None:
            self._publish(frame)

    async def control(self, request: ControlRequest) -> None:
        action = request.action
        if action == "play":
            if self.status == "diverged":
                await self._on_engine(self.engine.accept_current_loss)
            self.message = None
            # A half-done phase step is finished first, so Play always starts at a step boundary.
            await self._on_engine(self.backprop.finish_step)
            self._start_playing()
        elif action == "pause":
            await self._stop_playing("paused")
            self._publish(await self._on_engine(self._frame))
        elif action == "step":
            await self._stop_playing("paused")

            def step() -> StepFrame:
                # Mid-phase, Step completes the step in progress; otherwise it runs one.
                finished = self.backprop.finish_step()
                return self._frame() if finished else self._burst_frame(max_steps=1)

            self._publish(await self._on_engine(step))
        elif action == "step_phase":
            await self._stop_playing("paused")

            def step_phase() -> tuple[StepFrame, str | None]:
                problem = self.backprop.step_phase()
                return self._frame(), problem

            frame, problem = await self._on_engine(step_phase)
            if problem is not None:
                self.broadcast_error(None, problem)
            self._publish(frame)
        elif action == "reset":
            await self._stop_playing("idle")
            self.message = None
            self.race.new_run()

            def reset() -> StepFrame:
                self.engine.reset()
                return self._frame()

            self._publish(await self._on_engine(reset))

    async def rewind(self, request: RewindRequest) -> None:
        """Back to a kept step, paused there; Play or Step from it starts a branch. Raises
        HistoryError (a ValueError naming `step`) for a step not kept, and nothing changes."""
        await self._stop_playing("paused")
        self.race.new_run()

        def apply() -> StepFrame:
            self.backprop.finish_step()
            self.engine.timeline.restore(self.engine, request.step)
            self.message = None
            return self._frame()

        frame = await self._on_engine(apply)
        if self.status == "diverged":
            self.status = "paused"
            frame.status = "paused"
        for subscriber in self.subscribers:
            subscriber.send(RewoundFrame(step=frame.step, config=self.engine.config))
        self.confirm_settings()
        self._publish(frame)

    # ---- the user's own data and model files (issue 3) ----------------------------------------

    async def edit_points(self, request: EditPointsRequest) -> None:
        """Drawn points: a live change like `set`; raises PointEditError with nothing changed."""

        def apply() -> StepFrame | None:
            add = [(p.x1, p.x2, p.label) for p in request.add]
            self.engine.edit_points(add, [(p.x1, p.x2) for p in request.remove])
            return self._frame_unless_running()

        frame = await self._command(apply)
        self.data_version += 1
        if frame is not None:
            self._publish(frame)

    async def inspect(self, request: InspectRequest) -> InspectionFrame:
        return await self._on_engine(lambda: inspect_point(self.engine, request.x1, request.x2))

    async def sample(self, request: SampleRequest) -> SampleFrame:
        """One sample by hand; raises SettingError for a point or weight that is not there."""
        return await self._on_engine(lambda: sample_frame(self.engine, request))

    async def save_checkpoint(self) -> tuple[bytes, int]:
        """The model file and the step it was saved at."""
        e = self.engine
        return await self._on_engine(lambda: (e.save_checkpoint(), e.step_count))

    async def load_checkpoint(self, raw: bytes) -> LabConfig:
        """A model file's settings and weights; the run waits paused at step 0 to be looked at.
        Raises CheckpointError, and then nothing has changed."""
        await self._restart_with(lambda: self.engine.load_checkpoint(raw), keep_playing=False)
        return self.engine.config

    async def use_csv(self, raw: bytes) -> Dataset:
        """Points from a CSV file for the current task, split by the current ratio and seed;
        the run rebuilds. Raises CsvDataError, and then nothing has changed."""

        def apply() -> None:
            d = self.engine.config.data
            data = dataset_from_csv(raw, self.engine.data.task, d.train_fraction, d.seed)
            self.engine.use_points(data)

        await self._restart_with(apply, keep_playing=True)
        return self.engine.data

    async def _restart_with(self, work: Callable[[], None], keep_playing: bool) -> None:
        """Like configure: stop, apply on the engine, send the new data and frame. If `work`
        raises, the run goes on as it was."""
        previous = self.status
        await self._stop_playing("idle")
        # Dropped before the engine changes, so a race finishing meanwhile is not shown; a
        # refused file costs the race too, which is cheap to run again.
        self.race.new_run()

        def apply() -> StepFrame:
            work()
            return self._frame()

        try:
            frame = await self._on_engine(apply)
        except Exception:
            self.status = previous
            if previous == "running":
                self._start_playing()
            raise
        self.data_version += 1
        self.message = None
        self.confirm_settings()
        self._publish(frame)
        if previous == "running" and keep_playing:
            self._start_playing()

    # ---- the training loop ------------------------------------------------------------------

    def _start_playing(self) -> None:
        self.status = "running"
        if self._play_task is None or self._play_task.done():
            self._play_task = asyncio.create_task(self._play_loop(), name=f"play-{self.id}")

    async def _stop_playing(self, status: RunStatus) -> None:
        if self.status != "diverged" or status == "idle":
            self.status = status
        task, self._play_task = self._play_task, None
        if task is not None:
            # The loop ends after its current burst (cut short); waiting keeps commands ordered.
            self._cut_burst_short()
            await asyncio.wait({task})
            self._interrupt.clear()

    async def _play_loop(self) -> None:
        interval = self.settings.frame_interval_seconds
        self._playing.join(self.id)
        try:
            while self.status == "running":
                frame = await self._play_burst(interval)
                if frame is not None:
                    self._publish(frame)
        except Exception:
            log.exception("training loop of session %s failed", self.id)
            self.status = "paused"
            self.message = "training stopped on an internal error; press Play to try again"
            self.broadcast_error(None, self.message)
        finally:
            self._playing.leave(self.id)

    async def close(self) -> None:
        await self._stop_playing("paused")
        await self.landscape.close()
        await self.race.close()

    def request_surface(self, request: SurfaceRequest) -> None:
        """Computed beside training, never inside the engine lock; the newest request wins."""
        self.landscape.request(request)

    def request_race(self, request: RaceRequest) -> None:
        """Trained beside the session from a copy of its weights; the newest request waits."""
        self.race.request(request)

    async def _on_engine(self, work: Callable[[], T]) -> T:
        """Run a user's action on an engine worker, before the round of bursts; one engine
        touch at a time per session."""
        async with self._engine_lock:
            return await self._scheduler.run(work, urgent=True)

    async def _play_burst(self, interval: float) -> StepFrame | None:
        """One burst of the play loop and its frame: in its turn in the round, or, right after
        a change, short and at once: its frame is the first one computed with the change."""
        async with self._engine_lock:
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
            now = time.monotonic()
            if self.subscribers and all(s.stalled(now) for s in self.subscribers):
                burst: Callable[[], StepFrame | None] = functools.partial(
                    self._burst_unwatched, seconds
                )
            else:
                burst = functools.partial(self._burst_frame, MAX_STEPS_PER_BURST, seconds)
            job = self._scheduler.submit(burst, urgent=quick, turn=self._playing.turn(self.id))
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

    async def _command(self, work: Callable[[], T]) -> T:
        """A user's change: cut the running burst short, apply, then train a short burst so
        the first frame computed with the change arrives within a few milliseconds."""
        self._cut_burst_short()

        def apply() -> T:
            self._interrupt.clear()
            return work()

        try:
            return await self._on_engine(apply)
        finally:
            self._quick_burst = True

    # ---- run on the worker thread -----------------------------------------------------------

    def _burst_frame(self, max_steps: int, seconds: float | None = None) -> StepFrame:
        """Train for `seconds` (a play loop's burst) or `max_steps`, then build the frame."""
        started = time.perf_counter()
        deadline = None if seconds is None else started + seconds
        result = self._train(max_steps, started, deadline)
        frame = self._frame(result.evaluation)
        built_at = time.perf_counter()
        if deadline is not None and not self._interrupt.is_set():
            # What this frame cost besides training: bursts are shortened by it.
            self._playing.measured(max(0.0, built_at - deadline))
        self._playing.charge(self.id, built_at - started)
        return frame

    def _burst_unwatched(self, seconds: float) -> StepFrame | None:
        """A burst for pages that stopped reading: a frame only if the run diverged, and the
        time charged UNWATCHED_CHARGE_FACTOR times, so sessions someone watches go first."""
        started = time.perf_counter()
        result = self._train(MAX_STEPS_PER_BURST, started, started + seconds)
        used = time.perf_counter() - started
        self._playing.charge(self.id, used * UNWATCHED_CHARGE_FACTOR)
        return self._frame(result.evaluation) if result.divergence is not None else None

    def _train(self, max_steps: int, started: float, deadline: float | None) -> BurstResult:
        """One burst of the engine; the speed it went at, and a divergence told in words."""
        result = self.engine.burst(max_steps, deadline, self._interrupt.is_set)
        elapsed = time.perf_counter() - started
        if result.steps and elapsed > 0:
            self._steps_per_second = result.steps / elapsed
        if result.divergence is not None:
            d = result.divergence
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
        return result

    def _health(self) -> FrameHealth:
        """Health, distributions and optimizer state: fresh whenever the run stands still, and
        at most PlayingSessions.health_interval_seconds() old while it plays."""
        now, model = time.monotonic(), id(self.engine.model)
        cached = self._health_cache
        if (
            self.status != "running"
            or cached is None
            or cached[1] != model  # rebuilt: other layers
            or now - cached[0] > self._playing.health_interval_seconds()
        ):
            cached = self._health_cache = (now, model, frame_health(self.engine))
            self._health_version += 1
        return cached[2]

    def _frame_unless_running(self) -> StepFrame | None:
        """After a change: playing, the next burst's frame shows it (one frame, not two)."""
        return None if self.status == "running" else self._frame()

    def _frame(self, evaluation: Evaluation | None = None) -> StepFrame:
        """The frame of the engine as it is; `evaluation` if the burst just computed it."""
        frame = step_frame(
            self.engine,
            self.status,
            self.message,
            self.settings.boundary_resolution,
            self.settings.neuron_map_resolution,
            self._steps_per_second if self.status == "running" else 0.0,
            self._health(),
            evaluation,
        )
        # Every state a page sees is a point of the optimizer's path on the loss surface.
        self.landscape.record(frame.train_loss)
        frame.phase = self.backprop.refresh(running=self.status == "running")
        frame.health_version = self._health_version
        return frame

    @property
    def config(self) -> LabConfig:
        return self.engine.config
