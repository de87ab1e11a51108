"""One page's image run, live: Play trains in bursts on the shared engine workers, each burst
followed by one frame; commands act between two steps.

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
import threading
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
    session_info,
)
from app.realtime.image_landscape import ImageLandscapes
from app.realtime.scheduler import EngineScheduler
from app.realtime.turns import PlayingSessions
from app.training.images.config import ImageLabConfig
from app.training.images.landscape import Snapshot
from app.training.images.model_file import ModelFileError, load_model_file, save_model_file
from app.training.images.run import ImageRun

log = logging.getLogger(__name__)
T = TypeVar("T")
Send = Callable[[str], Awaitable[None]]

# Training time per burst: with the test evaluation and the frame (~3 ms) about 20 frames/s.
BURST_SECONDS = 0.045


class ImageLive:
    def __init__(self, scheduler: EngineScheduler, playing: PlayingSessions, send: Send) -> None:
        self.id = f"images-{secrets.token_hex(6)}"
        self._scheduler = scheduler
        self._playing = playing
        self._send = send
        # One job on the run at a time, however many engine workers there are.
        self._lock = threading.Lock()
        self._run: ImageRun | None = None
        self._player: asyncio.Task[None] | None = None
        self.status: RunStatus = "paused"
        self._landscapes = ImageLandscapes(scheduler, playing, self.id)
        self._landscape: asyncio.Task[None] | None = None

    @property
    def run(self) -> ImageRun:
        assert self._run is not None, "open() first"
        return self._run

    async def _engine(self, work: Callable[[], T], urgent: bool = True) -> T:
        def locked() -> T:
            with self._lock:
                return work()

        return await self._scheduler.run(locked, urgent)

    async def _emit(self, message: ServerModel) -> None:
        await self._send(message.model_dump_json())

    async def open(self, config: ImageLabConfig) -> None:
        self._run = await self._engine(lambda: ImageRun(config))
        await self._show_run()

    async def _show_run(self) -> None:
        # A landscape of the model before is of no use now; the new run's path starts here.
        await self._stop_landscape()
        await self._engine(lambda: self._landscapes.record(self.run))
        info, code, first = await self._engine(
            lambda: (
                session_info(self.run),
                code_listing(self.run),
                frame(self.run, self.status, []),
            )
        )
        await self._emit(info)
        await self._emit(code)
        await self._emit(first)

    async def configure(self, request: ImageConfigureRequest) -> None:
        new, old = request.config, self.run.config
        if new.model == old.model and new.data == old.data:
            await self._engine(lambda: self.run.set_training(new))
            await self._emit(await self._engine(lambda: code_listing(self.run)))
            await self._emit(await self._engine(lambda: frame(self.run, self.status, [])))
            return
        playing = self._player is not None
        await self._stop_playing()
        self._run = await self._engine(lambda: ImageRun(new))
        self.status = "paused"
        await self._show_run()
        if playing:
            self._start_playing()

    async def control(self, action: ImageControlAction) -> None:
        if action == "play":
            self._start_playing()
            return
        await self._stop_playing()
        if action == "step":
            loss = await self._engine(self._step_and_record)
            self.status = "paused" if math.isfinite(loss) else "diverged"
        elif action == "step_phase":
            await self._step_phase()
            return
        elif action == "reset":
            config = self.run.config
            self._run = await self._engine(lambda: ImageRun(config))
            self.status = "paused"
            await self._show_run()
            return
        elif self.status == "running":
            self.status = "paused"
        await self._emit(await self._engine(lambda: frame(self.run, self.status, [])))

    def _step_and_record(self) -> float:
        loss = self.run.step()
        self._landscapes.record(self.run)
        return loss

    async def _step_phase(self) -> None:
        """One phase; after the loss and backward phases the autograd graph goes out too."""

        def one_phase() -> tuple[ServerModel, ServerModel | None]:
            run = self.run
            done = run.step_phase()
            if done == "step":
                self._landscapes.record(run)
            if done == "step" and not math.isfinite(run.last_loss):
                self.status = "diverged"
            elif self.status != "diverged":
                self.status = "paused"
            graph = autograd(run) if done in ("loss", "backward") else None
            phase = ImagePhase(step=run.step_count, done=done, next=run.next_phase)
            return frame(run, self.status, [run.last_loss] if done == "step" else [], phase), graph

        shown, graph = await self._engine(one_phase)
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

        self._run = await self._engine(rebuilt)
        self.status = "paused"
        await self._show_run()

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

    async def close(self) -> None:
        await self._stop_landscape()
        await self._stop_playing()

    def _start_playing(self) -> None:
        if self._player is None:
            self.status = "running"
            self._player = asyncio.create_task(self._play_forever())

    async def _stop_playing(self) -> None:
        player, self._player = self._player, None
        if player is not None:
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player

    def _burst(self) -> tuple[str, bool]:
        """Train for BURST_SECONDS, then the frame; True when the loss stopped being finite."""
        with self._lock:
            run = self.run
            start = time.perf_counter()
            losses: list[float] = []
            diverged = False
            while time.perf_counter() - start < BURST_SECONDS:
                losses.append(run.step())
                if not math.isfinite(losses[-1]):
                    diverged = True
                    break
            self._landscapes.record(run)
            status: RunStatus = "diverged" if diverged else "running"
            text = frame(run, status, losses).model_dump_json()
            self._playing.charge(self.id, time.perf_counter() - start)
            return text, diverged

    async def _play_forever(self) -> None:
        self._playing.join(self.id)
        try:
            while True:
                job = self._scheduler.submit(self._burst, turn=self._playing.turn(self.id))
                text, diverged = await asyncio.wrap_future(job.future)
                if diverged:
                    self.status = "diverged"
                    self._player = None
                await self._send(text)
                if diverged:
                    return
        finally:
            self._playing.leave(self.id)
