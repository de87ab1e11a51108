"""A live session's loss surface: records the path, computes surfaces beside training, follows.

Training never waits for a surface: only the snapshot (a copy of a few thousand floats) is
taken under the session's engine lock; the batched evaluation then runs on the background thread
with the lock free. One computation at a time per session, and the newest request wins: a
request arriving mid-computation replaces any other still waiting.
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
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from app import limits
from app.protocol import (
    LossLine,
    SurfaceFrame,
    SurfaceGrid,
    SurfacePath,
    SurfaceRequest,
)
from app.realtime.wire import array_base64, float32_base64
from app.training.directions import flat_params
from app.training.landscape import (
    Landscape,
    LandscapeError,
    Snapshot,
    compute_landscape,
    take_snapshot,
)
from app.training.session import TrainingSession
from app.training.trajectory import Trajectory

log = logging.getLogger(__name__)
T = TypeVar("T")

# Following the model, a surface is recomputed at most this often, whatever the step interval,
# and only after resting FOLLOW_REST_FACTOR times as long as the last one took: its thread
# shares Python with training, and a 101² surface of the largest network takes ~1 s, so
# following may take at most a fifth of the time.
MIN_FOLLOW_SECONDS = 0.3
FOLLOW_REST_FACTOR = 4.0
# uint16 codes: 0…65534 span low…high, the last one marks "not finite".
NOT_FINITE_CODE = 65535


def encode_grid(loss: torch.Tensor) -> SurfaceGrid:
    """uint16 rather than bytes: contours of a loss spanning decades need the finer steps."""
    values = loss.double().numpy()
    finite = np.isfinite(values)
    low = float(values[finite].min()) if finite.any() else 0.0
    high = float(values[finite].max()) if finite.any() else 0.0
    span = high - low if high > low else 1.0
    codes = np.full(values.shape, NOT_FINITE_CODE, dtype="<u2")
    codes[finite] = np.clip(np.rint((values[finite] - low) / span * 65534), 0, 65534)
    return SurfaceGrid(
        resolution=values.shape[0],
        low=low,
        high=high,
        data=array_base64(codes, "<u2"),
    )


def finite_list(values: torch.Tensor | list[float]) -> list[float | None]:
    items = values.tolist() if isinstance(values, torch.Tensor) else values
    return [v if math.isfinite(v) else None for v in items]


def follow_due(moved_steps: int, every_steps: int, rested: float, last_compute: float) -> bool:
    """Time for a new surface that follows the model: it moved `every_steps` (0: never), and
    `rested` seconds have passed since the last one, long enough beside its `last_compute`."""
    if every_steps == 0 or moved_steps < every_steps:
        return False
    return rested >= max(MIN_FOLLOW_SECONDS, FOLLOW_REST_FACTOR * last_compute)


def surface_frame(request: SurfaceRequest, landscape: Landscape, compute_ms: float) -> SurfaceFrame:
    coords = landscape.path_coords
    return SurfaceFrame(
        request=request,
        step=landscape.step,
        span=landscape.span,
        grid=encode_grid(landscape.loss),
        center_loss=landscape.center_loss if math.isfinite(landscape.center_loss) else None,
        center=float32_base64(landscape.center.numpy()),
        d1=float32_base64(landscape.d1.numpy()),
        d2=float32_base64(landscape.d2.numpy()),
        path=SurfacePath(
            steps=landscape.path_steps,
            alpha=coords[:, 0].tolist(),
            beta=coords[:, 1].tolist(),
            residual=landscape.path_residual.tolist(),
            loss=finite_list(landscape.path_loss),
        ),
        line=LossLine(
            start_step=landscape.path_steps[0],
            loss=finite_list(landscape.line_loss),
            distance=landscape.line_distance,
        ),
        explained=None if landscape.explained is None else landscape.explained.tolist(),
        compute_ms=compute_ms,
    )


class SurfaceRunner:
    """The loss surface of one live session. Call `record` on the worker after every state
    change, `request` for a new surface, and `on_frame` after each published frame."""

    def __init__(
        self,
        engine: TrainingSession,
        executor: Executor,
        on_engine: Callable[[Callable[[], Snapshot]], Awaitable[Snapshot]],
        publish: Callable[[SurfaceFrame], None],
        report_error: Callable[[str | None, str], None],
    ) -> None:
        self.engine = engine
        self.trajectory = Trajectory()
        self._executor = executor
        self._on_engine = on_engine
        self._publish = publish
        self._report_error = report_error
        self._latest: SurfaceRequest | None = None
        self._waiting = False
        self._task: asyncio.Task[None] | None = None
        self._computed_step: int | None = None
        self._computed_at = -math.inf
        self._compute_seconds = 0.0  # how long the last surface took
        self._closed = False
        # The newest published surface: the optimizer race is drawn on its plane.
        self.latest: Landscape | None = None

    # ---- on the worker thread, under the engine lock ----------------------------------------

    def record(self, train_loss: float | None, params: Tensor | None = None) -> None:
        """A point of the path; `params`: flat_params of the model if already at hand."""
        engine = self.engine
        loss = math.nan if train_loss is None else train_loss
        if params is None:
            params = flat_params(engine.model)
        self.trajectory.record(engine.step_count, params, loss)

    # ---- on the event loop ------------------------------------------------------------------

    def request(self, request: SurfaceRequest) -> None:
        self._latest = request
        self._waiting = True
        self._start()

    def on_frame(self, step: int) -> None:
        """Follow the model: a new surface once it has moved `follow_every_steps` steps."""
        request = self._latest
        if request is None or self._computed_step is None:
            return
        if follow_due(
            abs(step - self._computed_step),
            request.follow_every_steps,
            time.monotonic() - self._computed_at,
            self._compute_seconds,
        ):
            self._waiting = True
            self._start()

    async def close(self) -> None:
        self._closed = True
        self._waiting = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def _start(self) -> None:
        if not self.busy and not self._closed:
            self._task = asyncio.create_task(self._compute_while_waiting(), name="surface")

    async def _compute_while_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting and self._latest is not None:
            self._waiting = False
            request = self._latest
            try:
                snapshot = await self._on_engine(
                    lambda: take_snapshot(self.engine, self.trajectory)
                )
                started = time.perf_counter()
                landscape = await loop.run_in_executor(
                    self._executor, functools.partial(_compute, snapshot, request)
                )
                self._compute_seconds = time.perf_counter() - started
                compute_ms = self._compute_seconds * 1e3
            except LandscapeError as error:
                # Following, this would repeat every few steps: stop following until asked again.
                self._latest = request.model_copy(update={"follow_every_steps": 0})
                self._report_error(error.field, str(error))
                continue
            except Exception:
                log.exception("the loss surface failed")
                self._latest = None
                self._report_error(None, "the loss surface failed on an internal error")
                return
            self._computed_step = snapshot.step
            self._computed_at = time.monotonic()
            self.latest = landscape
            self._publish(surface_frame(request, landscape, compute_ms))


def _compute(snapshot: Snapshot, request: SurfaceRequest) -> Landscape:
    weights = (
        [(w.layer, w.out_neuron, w.in_neuron) for w in request.weights] if request.weights else None
    )
    return compute_landscape(
        snapshot,
        request.mode,
        request.resolution,
        request.span,
        limits.MAX_SURFACE_SPAN,
        seed=request.seed,
        weights=weights,
    )
