"""One page's image run, live: Play trains in bursts on the shared engine workers, each burst
followed by one frame; commands act between two steps. Its timeline (history.py) keeps
snapshots as it trains, to rewind to; training on from a rewound step is a branch.

The run takes its turns on the same workers, in the same round, as the 2-D lab's runs
(`PlayingSessions`): a digits learner neither starves nor is starved by the plane learners.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.protocol.base import RunStatus, ServerModel
from app.protocol.images import (
    ImageCellRequest,
    ImageConfigureRequest,
    ImageControlAction,
    ImageInspectRequest,
    ImageLandscapeRequest,
    ImageLoadRequest,
    ImageModelFile,
    ImagePhase,
    ImageRewindRequest,
    ImageSampleCheck,
    ImageSampleRequest,
)
from app.protocol.replies import ErrorFrame
from app.realtime.image_frames import (
    autograd,
    cell,
    code_listing,
    drawn_image,
    frame,
    inspection,
    rewound_frame,
    runs_frame,
    session_info,
)
from app.realtime.image_landscape import ImageLandscapes
from app.realtime.scheduler import EngineScheduler
from app.realtime.turns import PlayingSessions
from app.training.history import HistoryError
from app.training.images.config import ImageLabConfig
from app.training.images.digits import N_CLASSES
from app.training.images.divergence import LossWatch
from app.training.images.history import ImageBranch, ImageTimeline
from app.training.images.landscape import Snapshot
from app.training.images.model_file import ModelFileError, load_model_file, save_model_file
from app.training.images.run import ImageRun
from app.training.images.run_state import encode_run

log = logging.getLogger(__name__)
T = TypeVar("T")
Send = Callable[[str], Awaitable[None]]

# Training time per burst: with the test evaluation and the frame (~3 ms) about 20 frames/s.
BURST_SECONDS = 0.045


class ImageLive:
    def __init__(
        self,
        scheduler: EngineScheduler,
        playing: PlayingSessions,
        send: Send,
        run_id: str | None = None,
        history_max_bytes: int = 16 * 1024 * 1024,
        history_recent_snapshots: int = 200,
    ) -> None:
        self.id = run_id or f"images-{secrets.token_urlsafe(16)}"
        self._scheduler = scheduler
        self._playing = playing
        self._send = send
        # Playing runs of one shape train in groups (image_groups.py): every job on the run
        # holds the groups' lock and takes the run out of its group first.
        self._groups = playing.image_groups
        self._run: ImageRun | None = None
        # Losses of steps a group took that no frame has carried yet (the next one will).
        self._unsent_losses: list[float] = []
        # Divergence while the loss is still a number (a rate far too high), and why it ended.
        self._watch = LossWatch(N_CLASSES)
        self._diverged_because: str | None = None
        self._timeline: ImageTimeline | None = None
        self._history_limits = (history_max_bytes, history_recent_snapshots)
        # The timeline version the page's runs list shows.
        self._runs_shown = -1
        self._player: asyncio.Task[None] | None = None
        self.status: RunStatus = "paused"
        self._landscapes = ImageLandscapes(scheduler, playing, self.id)
        self._landscape: asyncio.Task[None] | None = None

    @property
    def run(self) -> ImageRun:
        assert self._run is not None, "open() first"
        return self._run

    def branch(self, run_id: int) -> ImageBranch:
        """A run of its runs list, for download (HistoryError when it is not kept)."""
        if self._timeline is None:
            raise HistoryError("the run has not opened yet")
        return self._timeline.run(run_id)

    @property
    def timeline(self) -> ImageTimeline:
        assert self._timeline is not None, "open() first"
        return self._timeline

    async def _engine(self, work: Callable[[], T], urgent: bool = True) -> T:
        def locked() -> T:
            with self._groups.lock:
                taken = self._groups.take_out(self.id)
                if taken:  # steps trained before this command: the page hears of them next
                    self._record_grouped(taken)
                    self._unsent_losses.extend(taken)
                    if not math.isfinite(taken[-1]):
                        self._diverged(f"the loss became {taken[-1]}")
                return work()

        return await self._scheduler.run(locked, urgent)

    async def _emit(self, message: ServerModel) -> None:
        await self._send(message.model_dump_json())

    async def open(self, config: ImageLabConfig) -> None:
        self._run = await self._engine(lambda: ImageRun(config))
        max_bytes, recent = self._history_limits
        self._timeline = ImageTimeline(config, max_bytes, recent)
        await self._show_run()

    async def _rebuild(self, config: ImageLabConfig, make: Callable[[], ImageRun]) -> None:
        """A new run (new model or data, a reset, a model file): the timeline starts over."""
        self._run = await self._engine(make)
        self._unsent_losses = []  # the run before's
        self._watch.forget()
        self.timeline.start_over(config)
        self.status = "paused"
        await self._show_run()

    async def _show_run(self, resumed: bool = False) -> None:
        # A landscape of the model before is of no use now; the new run's path starts here.
        await self._stop_landscape()
        await self._engine(lambda: self._landscapes.record(self.run))
        info, code, first = await self._engine(
            lambda: (
                session_info(self.run, self.id, resumed),
                code_listing(self.run),
                self._frame(self.status, []),
            )
        )
        await self._emit(info)
        await self._emit(code)
        await self._emit_runs()
        await self._emit(first)

    def adopt(self, run: ImageRun) -> None:
        """A run read back from the store, paused, for a page to attach to: its timeline
        starts at the step it resumes from (the store keeps the run, not its history)."""
        self._run = run
        max_bytes, recent = self._history_limits
        self._timeline = ImageTimeline(run.config, max_bytes, recent)
        self._timeline.keep(run.snapshot())
        self.status = "paused"

    async def encoded(self) -> bytes | None:
        """The run as the store keeps it (None halfway through a step, or before open)."""
        if self._run is None:
            return None
        return await self._engine(lambda: encode_run(self.run), urgent=False)

    async def notify(self, message: ServerModel) -> None:
        """A message from outside the run (the server is stopping); a page already gone is
        no error."""
        with contextlib.suppress(Exception):
            await self._emit(message)

    async def attach(self, send: Send) -> None:
        """A page again (it reconnected): it gets the run as it stands, paused."""
        self._send = send
        await self._show_run(resumed=True)

    async def pause_for_exit(self) -> None:
        """The server is stopping: paused, and the page (if one is there) sees the last step
        taken, so that what it saw is what the store keeps."""
        was_playing = self._player is not None
        await self.detach()
        if was_playing and self._run is not None:
            await self.notify(await self._engine(lambda: self._frame(self.status, [])))

    async def detach(self) -> None:
        """Its page is gone: the run pauses where it is, to be attached again."""
        await self._stop_landscape()
        await self._stop_playing()
        if self.status == "running":
            self.status = "paused"

    def _frame(
        self, status: RunStatus, losses: list[float], phase: ImagePhase | None = None
    ) -> ServerModel:
        losses, self._unsent_losses = self._unsent_losses + losses, []
        reason = (
            (self._diverged_because or "the loss is not a number") if status == "diverged" else None
        )
        return frame(self.run, status, losses, phase, self.timeline, reason)

    def _diverged(self, reason: str) -> None:
        self.status = "diverged"
        self._diverged_because = reason

    def _runs_if_changed(self) -> ServerModel | None:
        """The runs list, when it changed since the page was last sent it."""
        if self._runs_shown == self.timeline.version:
            return None
        self._runs_shown = self.timeline.version
        return runs_frame(self.timeline)

    async def _emit_runs(self) -> None:
        runs = self._runs_if_changed()
        if runs is not None:
            await self._emit(runs)

    def _keep_snapshot(self) -> None:
        """The run now, for the timeline (between two steps only): the first one after a
        rewind starts a branch."""
        if not self.run.mid_step:
            self.timeline.keep(self.run.snapshot())

    def _step(self) -> float:
        """One step, its loss onto the run's curve and, when one is due, a snapshot."""
        run = self.run
        step = run.step_count + 1
        loss = run.step()
        self.timeline.record([(step, loss)])
        if self.timeline.due(run.step_count):
            self._keep_snapshot()
        return loss

    def _record_grouped(self, losses: list[float]) -> None:
        """Steps a group took: the run's step count has moved past them (a step not taken, the
        NaN that ends a diverged list, is numbered as the next one, as `_step` does)."""
        taken = sum(math.isfinite(loss) for loss in losses)
        first = self.run.step_count - taken + 1
        self.timeline.record([(first + i, loss) for i, loss in enumerate(losses)])
        if self.timeline.due(self.run.step_count):
            self._keep_snapshot()

    async def configure(self, request: ImageConfigureRequest) -> None:
        new, old = request.config, self.run.config
        if new.model == old.model and new.data == old.data:
            await self._engine(lambda: self.run.set_training(new))
            self._watch.forget()  # the new settings get their own WINDOW steps
            await self._emit(await self._engine(lambda: code_listing(self.run)))
            await self._emit(await self._engine(lambda: self._frame(self.status, [])))
            return
        playing = self._player is not None
        await self._stop_playing()
        await self._rebuild(new, lambda: ImageRun(new))
        if playing:
            self._start_playing()

    async def control(self, action: ImageControlAction) -> None:
        if action == "play":
            self._start_playing()
            return
        await self._stop_playing()
        if action == "step":
            await self._step_once()
            return
        if action == "step_phase":
            await self._step_phase()
            return
        elif action == "reset":
            config = self.run.config
            await self._rebuild(config, lambda: ImageRun(config))
            return
        elif self.status == "running":
            self.status = "paused"
        await self._emit(await self._engine(lambda: self._frame(self.status, [])))

    async def _step_once(self) -> None:
        """One step from a kept snapshot (the first after a rewind branches): its loss goes out
        in the frame, for the page's curve."""

        def stepped() -> ServerModel:
            self._keep_snapshot()
            loss = self._step()
            self._landscapes.record(self.run)
            self.status = "paused"
            if not math.isfinite(loss):
                self._diverged(f"the loss became {loss}")
            return self._frame(self.status, [loss])

        shown = await self._engine(stepped)
        await self._emit_runs()
        await self._emit(shown)

    async def _step_phase(self) -> None:
        """One phase; after the loss and backward phases the autograd graph goes out too."""

        def one_phase() -> tuple[ServerModel, ServerModel | None]:
            run = self.run
            self._keep_snapshot()
            step = run.step_count + 1
            done = run.step_phase()
            if done == "step":
                self.timeline.record([(step, run.last_loss)])
                self._landscapes.record(run)
            if done == "step" and not math.isfinite(run.last_loss):
                self._diverged(f"the loss became {run.last_loss}")
            elif self.status != "diverged":
                self.status = "paused"
            graph = autograd(run) if done in ("loss", "backward") else None
            phase = ImagePhase(step=run.step_count, done=done, next=run.next_phase)
            losses = [run.last_loss] if done == "step" else []
            return self._frame(self.status, losses, phase), graph

        shown, graph = await self._engine(one_phase)
        await self._emit_runs()
        if graph is not None:
            await self._emit(graph)
        await self._emit(shown)

    async def inspect(self, request: ImageInspectRequest) -> None:
        def look() -> ServerModel:
            run = self.run
            if request.pixels is not None:
                return inspection(run, drawn_image(request.pixels), None, request.target)
            index = request.test_index or 0
            n_test = len(run.data.test_x)
            if index >= n_test:
                raise ValueError(f"test_index {index}: there are {n_test} test images")
            label = int(run.data.test_y[index])
            return inspection(run, run.data.test_x[index, 0], label, request.target)

        await self._emit(await self._engine(look))

    async def open_cell(self, request: ImageCellRequest) -> None:
        answer = await self._engine(
            lambda: cell(self.run, request.true_class, request.predicted_class)
        )
        await self._emit(answer)

    async def check_sample(self, request: ImageSampleRequest) -> None:
        def check() -> ServerModel:
            run = self.run
            n_train, units = len(run.data.train_x), len(run.filters().weights)
            side = run.filters().weights.shape[-1]
            if request.sample >= n_train:
                raise ValueError(f"sample {request.sample}: there are {n_train} training images")
            if request.unit >= units or request.row >= side or request.col >= side:
                raise ValueError(f"the first layer has {units} filters of {side}×{side}")
            found = run.check_first_layer_weight(
                request.sample, request.unit, request.row, request.col
            )
            return ImageSampleCheck(**dataclasses.asdict(found))

        await self._emit(await self._engine(check))

    async def save(self) -> None:
        run = self.run
        raw = await self._engine(lambda: save_model_file(run.config, run.model, run.step_count))
        name = f"digits-step{run.step_count}.pt"
        await self._emit(ImageModelFile(filename=name, data=base64.b64encode(raw).decode()))

    async def load(self, request: ImageLoadRequest) -> None:
        try:
            raw = base64.b64decode(request.data, validate=True)
        except ValueError as error:
            raise ModelFileError("the model file did not arrive as base64") from error
        config, state, step = load_model_file(raw)
        await self._stop_playing()

        def rebuilt() -> ImageRun:
            run = ImageRun(config)
            run.load_weights(state, step)
            return run

        await self._rebuild(config, rebuilt)

    async def landscape(self, request: ImageLandscapeRequest) -> None:
        """The loss landscape of the weights now. The snapshot is taken at once; the rest is
        computed in the background, so the page's other messages (Pause…) are answered
        meanwhile, and a newer request replaces one still computing."""
        await self._stop_landscape()
        snapshot = await self._engine(lambda: self._landscapes.snapshot(self.run))
        self._landscape = asyncio.create_task(self._send_landscape(snapshot, request))

    async def _send_landscape(self, snapshot: Snapshot, request: ImageLandscapeRequest) -> None:
        try:
            answer: ServerModel = await self._landscapes.compute(snapshot, request)
        except ValueError as error:
            answer = ErrorFrame(field=getattr(error, "field", None), message=str(error))
        except Exception:
            log.exception("the digits lab's loss landscape failed")
            answer = ErrorFrame(
                field=None, message="the loss landscape failed on an internal error"
            )
        await self._emit(answer)

    async def _stop_landscape(self) -> None:
        task, self._landscape = self._landscape, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def rewind(self, request: ImageRewindRequest) -> None:
        """Back to a kept step, paused there; Play or Step from it starts a branch. Raises
        HistoryError (a ValueError naming `step`) for a step not kept, and nothing changes but
        the present being kept (so the slider can come back to it)."""
        await self._stop_playing()

        def apply() -> tuple[ServerModel, ServerModel, ServerModel]:
            run, timeline = self.run, self.timeline
            if timeline.leaving_present(run.step_count):
                self._keep_snapshot()
            run.restore(timeline.rewind_to(request.step))
            self._unsent_losses = []  # on the curve the rewound frame carries
            self._watch.forget()
            self.status = "paused"
            return rewound_frame(run, timeline), code_listing(run), self._frame(self.status, [])

        rewound, code, shown = await self._engine(apply)
        await self._emit(rewound)
        await self._emit(code)
        await self._emit(shown)

    def _start_playing(self) -> None:
        if self._player is None:
            self.status = "running"
            self._watch.forget()
            self._groups.started(self.id)
            self._player = asyncio.create_task(self._play_forever())

    async def _stop_playing(self) -> None:
        player, self._player = self._player, None
        self._groups.stopped(self.id)
        if player is not None:
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player

    def _burst(self) -> tuple[list[str], bool]:
        """Train for BURST_SECONDS (in the run's group, or alone), then the frame (after the
        runs list, if a branch started); True when the run diverged (divergence.py)."""
        with self._groups.lock:
            run = self.run
            if not self._groups.grouped(self.id):  # else its state is the group's until sync
                self._keep_snapshot()
            losses, grouped = self._groups.burst(self.id, run, BURST_SECONDS, self._step)
            if grouped:  # steps nobody recorded one by one: onto the curve, a snapshot if due
                self._record_grouped(losses)
            start = time.perf_counter()
            problem = self._watch.problem(losses, run.model)
            diverged = problem is not None
            self._diverged_because = problem
            if diverged:  # no group may train it on until its settings change and Play again
                self._groups.stopped(self.id)
                self._groups.withdraw(self.id)
            self._landscapes.record(run)
            status: RunStatus = "diverged" if diverged else "running"
            runs = self._runs_if_changed()
            texts = [
                m.model_dump_json() for m in (runs, self._frame(status, losses)) if m is not None
            ]
            self._playing.charge(self.id, time.perf_counter() - start)
            return texts, diverged

    async def _play_forever(self) -> None:
        self._playing.join(self.id)
        try:
            while True:
                job = self._scheduler.submit(self._burst, turn=self._playing.turn(self.id))
                texts, diverged = await asyncio.wrap_future(job.future)
                if diverged:
                    self.status = "diverged"
                    self._player = None
                for text in texts:
                    await self._send(text)
                if diverged:
                    return
        finally:
            self._groups.stopped(self.id)  # a diverged run too: no group may take it
            self._playing.leave(self.id)
