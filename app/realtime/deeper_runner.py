"""A live session's deeper views: λmax and the hidden space computed beside training while
their panels are on screen, sweeps trained in the background, and the hand edits (surgery).

As with the loss surface, only a copy of the weights is taken under the engine lock; the
computation runs on the background thread with the lock free. λmax and the hidden space
follow the run by polling its step count (a few times a second, and resting beside the last
computation's cost) until the page says its panel has left the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import torch

from app.protocol import (
    CurvatureFrame,
    CurvatureRequest,
    HiddenSpaceFrame,
    HiddenSpaceRequest,
    ServerModel,
    SurgeryFrame,
    SweepFrame,
    SweepRequest,
)
from app.realtime.surface_runner import FOLLOW_REST_FACTOR, MIN_FOLLOW_SECONDS
from app.training.config import LabConfig
from app.training.curvature import (
    CurvatureInput,
    compute_curvature,
    copy_model,
    take_curvature_input,
)
from app.training.datasets import Dataset
from app.training.errors import SettingError
from app.training.hidden_space import hidden_space
from app.training.session import TrainingSession
from app.training.state import TrainingState
from app.training.sweep import SweepPlan, SweepResult, cell_name, default_plan, run_sweep

log = logging.getLogger(__name__)
T = TypeVar("T")

# How often the follower looks at the run's step count.
POLL_SECONDS = 0.1
# The hidden space redraws at most this often: a page reads ~250 points and 451 grid points.
HIDDEN_SPACE_SECONDS = 0.2


def surgery_frame(engine: TrainingSession) -> SurgeryFrame:
    """The hand edits in force (sent after an edit, and to a page that arrives or rewinds)."""
    return SurgeryFrame(
        step=engine.step_count,
        switched_off=[list(pair) for pair in engine.surgery.switched_off()],
        edits=len(engine.surgery.edits),
    )


def curvature_frame(job: CurvatureInput, compute_ms: float) -> CurvatureFrame:
    found = compute_curvature(job)
    return CurvatureFrame(
        step=found.step,
        lambda_max=found.lambda_max if math.isfinite(found.lambda_max) else None,
        stability_limit=found.stability_limit,
        optimizer=job.optimizer,
        learning_rate=job.learning_rate,
        compute_ms=compute_ms,
    )


def hidden_space_frame(
    step: int, job: tuple[Any, torch.Tensor, torch.Tensor], request: HiddenSpaceRequest
) -> HiddenSpaceFrame:
    model, x, labels = job
    neurons = None if request.neurons is None else (request.neurons[0], request.neurons[1])
    space = hidden_space(model, x, request.layer, neurons)
    width = int(model.layers[request.layer].out_features)
    return HiddenSpaceFrame(
        step=step,
        layer=request.layer,
        neurons=request.neurons,
        explained=None if space.explained is None else list(space.explained),
        width=width,
        points=space.points.tolist(),
        labels=labels.reshape(-1).float().tolist(),
        grid=space.grid.tolist(),
    )


def sweep_frame(result: SweepResult | None, plan: SweepPlan, ms: float) -> SweepFrame:
    status = "running" if result is None else ("stopped" if result.stopped else "done")
    return SweepFrame(
        status=status,
        axis=plan.axis,
        learning_rates=plan.learning_rates,
        values=plan.values,
        steps=plan.steps,
        final_loss=None if result is None else result.final_loss,
        diverged_at=None if result is None else result.diverged_at,
        compute_ms=ms,
    )


class Follower:
    """When a view is due again: asked for now, or moved `every_steps` and rested long enough
    beside its last computation (it shares Python with training)."""

    def __init__(self) -> None:
        self.now = False
        self.every_steps = 0
        self.step: int | None = None
        self.at = -math.inf
        self.seconds = 0.0

    def due(self, step: int, min_rest: float = MIN_FOLLOW_SECONDS) -> bool:
        if self.now:
            return True
        if self.step is None or self.every_steps == 0:
            return False
        rested = time.monotonic() - self.at
        moved = abs(step - self.step)
        return moved >= self.every_steps and rested >= max(
            min_rest, FOLLOW_REST_FACTOR * self.seconds
        )

    def done(self, step: int, seconds: float) -> None:
        self.now, self.step, self.at, self.seconds = False, step, time.monotonic(), seconds


class DeeperRunner:
    def __init__(
        self,
        engine: TrainingSession,
        executor: Executor,
        on_engine: Callable[[Callable[[], Any]], Awaitable[Any]],
        publish: Callable[[ServerModel], None],
        report_error: Callable[[str | None, str], None],
    ) -> None:
        self.engine = engine
        self._executor = executor
        self._on_engine = on_engine
        self._publish = publish
        self._report_error = report_error
        self.curvature = Follower()
        self.hidden = Follower()
        self._hidden_request: HiddenSpaceRequest | None = None
        self._task: asyncio.Task[None] | None = None
        self._sweep: asyncio.Task[None] | None = None
        self._stop_sweep = False
        # The latest sweep's result and what it was trained from: its cells open as runs.
        self._swept: tuple[SweepResult, LabConfig, Dataset] | None = None
        self._closed = False

    # ---- requests, on the event loop --------------------------------------------------------

    def request_curvature(self, request: CurvatureRequest) -> None:
        self.curvature.now = request.now
        self.curvature.every_steps = request.every_steps
        self._start()

    def request_hidden_space(self, request: HiddenSpaceRequest) -> None:
        self._hidden_request = request
        self.hidden.now = request.now
        self.hidden.every_steps = 1 if request.follow else 0
        self._start()

    def request_sweep(self, request: SweepRequest) -> None:
        if request.action == "stop":
            self._stop_sweep = True
            return
        if self._sweep is not None and not self._sweep.done():
            self._report_error("sweep", "a sweep is under way: stop it first")
            return
        self._stop_sweep = False
        self._swept = None
        self._sweep = asyncio.create_task(self._run_sweep(request), name="sweep")

    def sweep_cell(self, index: int) -> tuple[TrainingState, Dataset, str]:
        """The state a cell of the latest sweep ended in, its points and its run's name. A
        sweep's cells belong to the data and model it started from: SettingError naming
        `index` when no sweep result holds the cell, or the run has new data or a new model."""
        swept = self._swept
        if swept is None:
            raise SettingError("index", "no finished sweep to open a cell of")
        result, config, data = swept
        if self.engine.data is not data or self.engine.config.model != config.model:
            raise SettingError(
                "index", "the data or the model changed since the sweep: run it again"
            )
        state = result.states.get(index)
        if state is None:
            raise SettingError("index", f"cell {index} of the sweep diverged or does not exist")
        return state, data, cell_name(result.plan, index)

    async def close(self) -> None:
        self._closed = True
        self._stop_sweep = True
        for task in (self._task, self._sweep):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # ---- the follower -----------------------------------------------------------------------

    def _start(self) -> None:
        if not self._closed and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._follow(), name="deeper")

    def _following(self) -> bool:
        return bool(self.curvature.every_steps or self.hidden.every_steps)

    async def _follow(self) -> None:
        while not self._closed:
            step = self.engine.step_count
            try:
                if self.curvature.due(step):
                    await self._compute_curvature()
                if self._hidden_request is not None and self.hidden.due(step, HIDDEN_SPACE_SECONDS):
                    await self._compute_hidden(self._hidden_request)
            except SettingError as error:
                self._hidden_request = None
                self._report_error(error.field, str(error))
            except Exception:
                log.exception("a deeper view failed")
                self._report_error(None, "curvature or hidden space failed on an internal error")
                return
            if not self._following() and not (self.curvature.now or self.hidden.now):
                return
            await asyncio.sleep(POLL_SECONDS)

    async def _in_background(self, work: Callable[[], T]) -> tuple[T, float]:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, work)
        return result, time.perf_counter() - started

    async def _compute_curvature(self) -> None:
        job = await self._on_engine(lambda: take_curvature_input(self.engine))
        self.curvature.now = False
        frame, seconds = await self._in_background(functools.partial(curvature_frame, job, 0.0))
        frame.compute_ms = seconds * 1e3
        self.curvature.done(job.step, seconds)
        self._publish(frame)

    async def _compute_hidden(self, request: HiddenSpaceRequest) -> None:
        def take() -> tuple[int, tuple[Any, torch.Tensor, torch.Tensor]]:
            e = self.engine
            return e.step_count, (copy_model(e.model), e.data.train_x, e.data.train_y)

        step, job = await self._on_engine(take)
        self.hidden.now = False
        frame, seconds = await self._in_background(
            functools.partial(hidden_space_frame, step, job, request)
        )
        self.hidden.done(step, seconds)
        self._publish(frame)

    # ---- sweeps -----------------------------------------------------------------------------

    async def _run_sweep(self, request: SweepRequest) -> None:
        def take() -> tuple[LabConfig, Dataset]:
            return self.engine.config, self.engine.data

        config, data = await self._on_engine(take)
        plan = default_plan(config, len(data.train_x), request.axis, request.size, request.steps)
        self._publish(sweep_frame(None, plan, 0.0))
        try:
            result, seconds = await self._in_background(
                functools.partial(run_sweep, config, data, plan, lambda: self._stop_sweep)
            )
        except Exception:
            log.exception("the sweep failed")
            self._report_error("sweep", "the sweep failed on an internal error")
            return
        if not self._closed:
            self._swept = (result, config, data)
            self._publish(sweep_frame(result, plan, seconds * 1e3))
