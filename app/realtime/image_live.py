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
    ImageLoadRequest,
    ImageModelFile,
    ImagePhase,
    ImageSampleCheck,
    ImageSampleRequest,
)
from app.realtime.image_frames import (
    autograd,
    cell,
    code_listing,
    drawn_image,
    frame,
    inspection,
    session_info,
)
from app.realtime.scheduler import EngineScheduler
from app.realtime.turns import PlayingSessions
from app.training.images.config import ImageLabConfig
from app.training.images.model_file import ModelFileError, load_model_file, save_model_file
from app.training.images.run import ImageRun

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
        # Playing runs of one shape train in groups (image_groups.py): every job on the run
        # holds the groups' lock and takes the run out of its group first.
        self._groups = playing.image_groups
        self._run: ImageRun | None = None
        self._player: asyncio.Task[None] | None = None
        self.status: RunStatus = "paused"

    @property
    def run(self) -> ImageRun:
        assert self._run is not None, "open() first"
        return self._run

    async def _engine(self, work: Callable[[], T], urgent: bool = True) -> T:
        def locked() -> T:
            with self._groups.lock:
                self._groups.withdraw(self.id)
                return work()

        return await self._scheduler.run(locked, urgent)

    async def _emit(self, message: ServerModel) -> None:
        await self._send(message.model_dump_json())

    async def open(self, config: ImageLabConfig) -> None:
        self._run = await self._engine(lambda: ImageRun(config))
        await self._show_run()

    async def _show_run(self) -> None:
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
            loss = await self._engine(self.run.step)
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

    async def _step_phase(self) -> None:
        """One phase; after the loss and backward phases the autograd graph goes out too."""

        def one_phase() -> tuple[ServerModel, ServerModel | None]:
            run = self.run
            done = run.step_phase()
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

    async def close(self) -> None:
        await self._stop_playing()

    def _start_playing(self) -> None:
        if self._player is None:
            self.status = "running"
            self._groups.started(self.id)
            self._player = asyncio.create_task(self._play_forever())

    async def _stop_playing(self) -> None:
        player, self._player = self._player, None
        self._groups.stopped(self.id)
        if player is not None:
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player

    def _burst(self) -> tuple[str, bool]:
        """Train for BURST_SECONDS (in the run's group, or alone), then the frame; True when
        the loss stopped being finite."""
        with self._groups.lock:
            run = self.run
            losses = self._groups.burst(self.id, run, BURST_SECONDS)  # charges its training
            diverged = bool(losses) and not math.isfinite(losses[-1])
            status: RunStatus = "diverged" if diverged else "running"
            start = time.perf_counter()
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
            self._groups.stopped(self.id)  # a diverged run too: no group may take it
            self._playing.leave(self.id)
