"""A live session: the commands a page sends, applied to one TrainingSession between bursts.

LiveSession is the facade; the play loop (play_loop.py) trains in bursts and paces them, the
pages (fanout.py) get what each is owed, and frames are built without side effects
(frame_builder.py). Surfaces and races are computed beside training (surface_runner.py,
race_runner.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor

from app.protocol import (
    ConfigureRequest,
    ControlRequest,
    EditPointsRequest,
    InspectionFrame,
    InspectRequest,
    OpenSweepCellRequest,
    RaceRequest,
    RewindRequest,
    RewoundFrame,
    SampleFrame,
    SampleRequest,
    SetRequest,
    SettingsFrame,
    StepFrame,
    SurfaceFrame,
    SurfaceRequest,
)
from app.realtime.backprop import BackpropChannel
from app.realtime.deeper_runner import DeeperRunner, surgery_frame
from app.realtime.engine_lock import EngineLock
from app.realtime.fanout import Pages, Subscriber
from app.realtime.inspection import inspect_point
from app.realtime.play_loop import PlayLoop
from app.realtime.race_runner import RaceRunner
from app.realtime.sample_frames import sample_frame
from app.realtime.scheduler import EngineScheduler
from app.realtime.surface_runner import SurfaceRunner
from app.realtime.turns import PlayingSessions
from app.settings import Settings
from app.store.snapshot import JsonValue, RunSnapshot, take_snapshot
from app.training.config import LabConfig
from app.training.csv_data import dataset_from_csv
from app.training.datasets import Dataset
from app.training.session import TrainingSession


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
        self.detached_at: float | None = time.monotonic()
        self._resume_on_attach = False
        # Another replica runs it now (it resumed it from the store): its pages reconnect there.
        self.moved = False
        self.backprop = BackpropChannel(engine)
        self.pages = Pages(engine, self.backprop)
        # Serialises every touch of the engine: commands land between bursts, never inside one.
        self.engine_lock = EngineLock(scheduler)
        self.surfaces = SurfaceRunner(
            engine,
            background,
            self.engine_lock.read,
            self._publish_surface,
            self.pages.broadcast_error,
        )
        self.race = RaceRunner(
            engine,
            background,
            self.engine_lock.read,
            lambda: self.surfaces.latest,
            self.pages.send_to_all,
            self.pages.broadcast_error,
        )
        # λmax, the hidden space and sweeps, beside training like the surfaces.
        self.deeper = DeeperRunner(
            engine,
            background,
            self.engine_lock.run,
            self.pages.send_to_all,
            self.pages.broadcast_error,
        )
        self.loop = PlayLoop(
            session_id,
            engine,
            settings,
            self.engine_lock,
            playing or PlayingSessions(scheduler.workers),
            self.pages,
            self.surfaces,
            self.backprop,
        )
        engine.timeline.max_bytes = settings.history_max_bytes
        engine.timeline.recent = settings.history_recent_snapshots

    @property
    def config(self) -> LabConfig:
        return self.engine.config

    # ---- pages ------------------------------------------------------------------------------

    async def attach(self) -> Subscriber:
        subscriber = Subscriber()
        self.pages.subscribers.add(subscriber)
        self.detached_at = None
        subscriber.offer(await self.engine_lock.read(self.loop.frame))
        if self.engine.surgery.edits:
            subscriber.send(surgery_frame(self.engine))
        if self._resume_on_attach:
            self._resume_on_attach = False
            self.loop.start()
        return subscriber

    async def detach(self, subscriber: Subscriber) -> None:
        self.pages.subscribers.discard(subscriber)
        if not self.pages.subscribers:
            self.detached_at = time.monotonic()
            # Nobody watching: stop burning a core, and carry on when the page comes back.
            if self.loop.status == "running":
                self._resume_on_attach = True
                await self.loop.stop("paused")

    async def pause_for_exit(self) -> None:
        """Stopped where it is, to be written as it stands; it plays on once resumed."""
        if self.loop.status == "running":
            self._resume_on_attach = True
            await self.loop.stop("paused")

    # ---- the store --------------------------------------------------------------------------

    def knobs(self) -> dict[str, JsonValue]:
        """What this session keeps beside the engine, stored with its run."""
        playing = self.loop.status == "running" or self._resume_on_attach
        return {"skip_zero_grad": self.backprop.stepper.skip_zero_grad, "playing": playing}

    def restore_knobs(self, knobs: dict[str, JsonValue]) -> None:
        """A resumed run's knobs; a run that was playing plays on once a page is attached."""
        self.backprop.stepper.skip_zero_grad = knobs.get("skip_zero_grad") is True
        self._resume_on_attach = knobs.get("playing") is True

    async def capture(self) -> RunSnapshot:
        """The run as it stands, between two bursts (for the store's writer)."""
        # A read: a run training in a group stays in it, brought up to date first.
        return await self.engine_lock.read(lambda: take_snapshot(self.engine, self.knobs()))

    def _publish_surface(self, surface: SurfaceFrame) -> None:
        self.pages.offer_surface(surface)
        self.race.on_surface()

    def confirm_settings(self, request_id: int | None = None) -> None:
        """Every page learns the settings now in force (and the requester its request's id)."""
        self.pages.send_to_all(
            SettingsFrame(
                config=self.engine.config,
                skip_zero_grad=self.backprop.stepper.skip_zero_grad,
                request_id=request_id,
            )
        )

    # ---- commands ---------------------------------------------------------------------------

    async def configure(self, request: ConfigureRequest) -> None:
        was_running = self.loop.status == "running"
        await self.loop.stop("idle")
        self.race.new_run()

        def rebuild() -> StepFrame:
            self.engine.rebuild(data=request.data, model=request.model)
            return self.loop.frame()

        frame = await self.engine_lock.run(rebuild)
        if request.data is not None:
            self.pages.data_version += 1
        self.loop.message = None
        self.confirm_settings(request.request_id)
        self.loop.publish(frame)
        if was_running:
            self.loop.start()

    async def set(self, request: SetRequest) -> None:
        def apply() -> StepFrame | None:
            # The whole change or none of it: the engine refuses before touching anything.
            self.loop.apply_change(request.settings_change())
            if request.skip_zero_grad is not None:
                self.backprop.stepper.skip_zero_grad = request.skip_zero_grad
            return self.loop.frame_unless_running()

        # In place, in the run's training group if it has one: it applies from the next step.
        frame = await self.loop.command(apply, touch="read")
        self.confirm_settings(request.request_id)
        if frame is not None:
            self.loop.publish(frame)

    async def control(self, request: ControlRequest) -> None:
        action = request.action
        if action in ("play", "run"):
            await self._play(request.steps)
        elif action == "pause":
            await self.loop.stop("paused")
            self.loop.publish(await self.engine_lock.run(self.loop.frame))
        elif action == "step":
            await self.loop.stop("paused")

            def step() -> StepFrame:
                # Mid-phase, Step completes the step in progress; otherwise it runs one.
                finished = self.backprop.finish_step()
                return self.loop.frame() if finished else self.loop.burst_frame(max_steps=1)

            self.loop.publish(await self.engine_lock.run(step))
        elif action == "step_phase":
            await self.loop.stop("paused")

            def step_phase() -> tuple[StepFrame, str | None]:
                problem = self.backprop.step_phase()
                return self.loop.frame(), problem

            frame, problem = await self.engine_lock.run(step_phase)
            if problem is not None:
                self.pages.broadcast_error(None, problem)
            self.loop.publish(frame)
        elif action == "reset":
            await self.loop.stop("idle")
            self.loop.message = None
            self.race.new_run()

            def reset() -> StepFrame:
                self.engine.reset()
                return self.loop.frame()

            self.loop.publish(await self.engine_lock.run(reset))

    async def _play(self, steps: int | None) -> None:
        """Play on, or with `steps` play exactly that many more steps and pause there."""
        if self.loop.status == "diverged":
            await self.engine_lock.run(self.engine.accept_current_loss)
        self.loop.message = None

        def prepare() -> None:
            # A half-done phase step is finished first, so a run starts at a step boundary;
            # the count of steps changes between bursts, never inside one.
            self.backprop.finish_step()
            self.loop.count_steps(steps)

        await self.loop.command(prepare)
        self.loop.start()

    async def rewind(self, request: RewindRequest) -> None:
        """Back to a kept step, paused there; Play or Step from it starts a branch. Raises
        HistoryError (a ValueError naming `step`) for a step not kept, and nothing changes."""
        await self.loop.stop("paused")
        self.race.new_run()

        def apply() -> StepFrame:
            self.backprop.finish_step()
            self.engine.rewind(request.step)
            self.loop.message = None
            return self.loop.frame()

        frame = await self.engine_lock.run(apply)
        if self.loop.status == "diverged":
            self.loop.status = "paused"
            frame.status = "paused"
        self.pages.send_to_all(RewoundFrame(step=frame.step, config=self.engine.config))
        self.confirm_settings()
        self.loop.publish(frame)
        if self.engine.surgery.edits:
            # The edits kept (those before the step rewound to): the page's list follows.
            self.pages.send_to_all(surgery_frame(self.engine))

    # ---- the user's own data and model files ----------------------------------------------

    async def edit_points(self, request: EditPointsRequest) -> None:
        """Drawn points: a live change like `set`; raises PointEditError with nothing changed."""

        def apply() -> StepFrame | None:
            add = [(p.x1, p.x2, p.label) for p in request.add]
            self.engine.edit_points(add, [(p.x1, p.x2) for p in request.remove])
            return self.loop.frame_unless_running()

        frame = await self.loop.command(apply)
        self.pages.data_version += 1
        if frame is not None:
            self.loop.publish(frame)

    async def inspect(self, request: InspectRequest) -> InspectionFrame:
        return await self.engine_lock.read(
            lambda: inspect_point(self.engine, request.x1, request.x2)
        )

    async def sample(self, request: SampleRequest) -> SampleFrame:
        """One sample by hand; raises SettingError for a point or weight that is not there."""
        return await self.engine_lock.run(lambda: sample_frame(self.engine, request))

    async def save_checkpoint(self) -> tuple[bytes, int]:
        """The model file and the step it was saved at."""
        e = self.engine
        return await self.engine_lock.read(lambda: (e.save_checkpoint(), e.step_count))

    async def load_checkpoint(self, raw: bytes) -> LabConfig:
        """A model file's settings and weights; the run waits paused at step 0 to be looked at.
        Raises CheckpointError, and then nothing has changed."""
        await self._restart_with(lambda: self.engine.load_checkpoint(raw), keep_playing=False)
        return self.engine.config

    async def open_sweep_cell(self, request: OpenSweepCellRequest) -> None:
        """The run a cell of the latest sweep trained, as a new run paused at its last step.
        Raises SettingError naming `index` when no sweep result holds it; nothing changed."""
        state, data, name = self.deeper.sweep_cell(request.index)
        await self._restart_with(
            lambda: self.engine.open_state(state, data, name), keep_playing=False
        )

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
        previous = self.loop.status
        await self.loop.stop("idle")
        # Dropped before the engine changes, so a race finishing meanwhile is not shown; a
        # refused file costs the race too, which is cheap to run again.
        self.race.new_run()

        def apply() -> StepFrame:
            work()
            return self.loop.frame()

        try:
            frame = await self.engine_lock.run(apply)
        except Exception:
            self.loop.status = previous
            if previous == "running":
                self.loop.start()
            raise
        self.pages.data_version += 1
        self.loop.message = None
        self.confirm_settings()
        self.loop.publish(frame)
        if previous == "running" and keep_playing:
            self.loop.start()

    async def close(self) -> None:
        await self.loop.stop("paused")
        await self.surfaces.close()
        await self.race.close()
        await self.deeper.close()

    def request_surface(self, request: SurfaceRequest) -> None:
        """Computed beside training, never inside the engine lock; the newest request wins."""
        self.surfaces.request(request)

    def request_race(self, request: RaceRequest) -> None:
        """Trained beside the session from a copy of its weights; the newest request waits."""
        self.race.request(request)
