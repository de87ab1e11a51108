"""The digits lab's loss landscape, live: the run's path recorded, and a landscape computed in
short chunks on the engine workers, in the learner's turn, without the run's lock.

Only the snapshot (a copy of the model, under a millisecond) is taken under the run's lock. A
21×21 landscape of the default CNN is 463 forward passes, 0.8 s (bench_image_landscape; up to 3 s
on this shared machine under load): as one job it would hold the engine worker, and so every
learner's training, that long. So it goes as jobs of about CHUNK_SECONDS each (the longest
measured 42 ms), queued in this learner's turn, not urgent, and charged to it like a burst.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from typing import TypeVar

import torch

from app.protocol.images import ImageLandscapeFrame, ImageLandscapeRequest
from app.protocol.surface import LossLine, SurfacePath
from app.realtime.scheduler import EngineScheduler
from app.realtime.turns import PlayingSessions
from app.training.images.landscape import (
    Landscape,
    LandscapePlan,
    Snapshot,
    flat_parameters,
    new_trajectory,
    take_snapshot,
)
from app.training.images.run import ImageRun
from app.training.trajectory import Trajectory

T = TypeVar("T")

# About a training burst's length: a chunk delays the other learners' turns no more than one.
CHUNK_SECONDS = 0.04


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def landscape_frame(landscape: Landscape, compute_ms: float) -> ImageLandscapeFrame:
    loss = landscape.loss
    finite = loss[torch.isfinite(loss)]
    coords = landscape.path_coords
    return ImageLandscapeFrame(
        step=landscape.step,
        resolution=loss.shape[0],
        span=landscape.span,
        seed=landscape.seed,
        alphas=landscape.alphas.tolist(),
        betas=landscape.betas.tolist(),
        loss=[[finite_or_none(v) for v in row] for row in loss.tolist()],
        low=float(finite.min()) if finite.numel() else None,
        high=float(finite.max()) if finite.numel() else None,
        center_loss=finite_or_none(landscape.center_loss),
        images=landscape.images,
        path=SurfacePath(
            steps=landscape.path_steps,
            alpha=coords[:, 0].tolist(),
            beta=coords[:, 1].tolist(),
            residual=landscape.path_residual.tolist(),
            loss=[finite_or_none(v) for v in landscape.path_loss],
        ),
        line=LossLine(
            start_step=landscape.path_steps[0],
            loss=[finite_or_none(v) for v in landscape.line_loss.tolist()],
            distance=landscape.line_distance,
        ),
        compute_ms=compute_ms,
    )


def next_chunk(points: int, seconds: float) -> int:
    """How many points the next job takes, from how long the last `points` took."""
    per_point = seconds / max(points, 1)
    return max(1, int(CHUNK_SECONDS / per_point)) if per_point > 0 else points * 2


class ImageLandscapes:
    """One page's path and landscapes. `record` and `snapshot` run under the run's lock."""

    def __init__(self, scheduler: EngineScheduler, playing: PlayingSessions, owner: str) -> None:
        self._scheduler = scheduler
        self._playing = playing
        self._owner = owner
        self._run: ImageRun | None = None
        self._trajectory: Trajectory | None = None

    def _path_of(self, run: ImageRun) -> Trajectory:
        """The path of this run: a rebuilt run (new settings, reset, a model file) starts anew."""
        if run is not self._run or self._trajectory is None:
            self._run, self._trajectory = run, new_trajectory(run.model)
        return self._trajectory

    def record(self, run: ImageRun) -> None:
        """A point of the path: the weights now (once per frame while playing)."""
        self._path_of(run).record(run.step_count, flat_parameters(run.model), run.last_loss)

    def snapshot(self, run: ImageRun) -> Snapshot:
        return take_snapshot(run, self._path_of(run))

    async def compute(
        self, snapshot: Snapshot, request: ImageLandscapeRequest
    ) -> ImageLandscapeFrame:
        """The landscape of `snapshot`, a chunk per engine job (cancelling stops between them)."""
        started = time.perf_counter()
        plan, _ = await self._in_turn(
            lambda: LandscapePlan(snapshot, request.resolution, request.span, request.seed)
        )
        values: list[torch.Tensor] = []
        done, chunk = 0, 1
        while done < plan.size:
            stop = min(plan.size, done + chunk)
            losses, seconds = await self._in_turn(functools.partial(plan.evaluate, done, stop))
            values.append(losses)
            chunk = next_chunk(stop - done, seconds)
            done = stop
        landscape = plan.landscape(torch.cat(values))
        return landscape_frame(landscape, (time.perf_counter() - started) * 1e3)

    async def _in_turn(self, work: Callable[[], T]) -> tuple[T, float]:
        """`work` on an engine worker in this learner's turn, and the seconds it took there."""

        def timed() -> tuple[T, float]:
            start = time.perf_counter()
            result = work()
            seconds = time.perf_counter() - start
            self._playing.charge(self._owner, seconds)
            return result, seconds

        job = self._scheduler.submit(timed, turn=self._playing.turn(self._owner))
        return await asyncio.wrap_future(job.future)
