"""The digits lab's loss landscape: how long the run's lock is held, how long a 21×21 takes,
and the longest single engine job of a live computation (what another learner may wait).

Engine only, one torch thread, the default CNN after 50 steps (and a small MLP for contrast).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

from app.protocol.images import ImageLandscapeRequest
from app.realtime.image_landscape import ImageLandscapes
from app.realtime.scheduler import EngineScheduler, Job
from app.realtime.turns import PlayingSessions
from app.training.images.config import ImageLabConfig, ImageModelConfig
from app.training.images.landscape import compute_landscape, new_trajectory, take_snapshot
from app.training.images.run import ImageRun

T = TypeVar("T")


class TimedScheduler(EngineScheduler):
    """The engine workers, keeping how long each job ran."""

    def __init__(self) -> None:
        super().__init__(workers=1, name="bench")
        self.job_seconds: list[float] = []

    def submit(self, work: Callable[[], T], urgent: bool = False, turn: float = 0.0) -> Job[T]:
        def timed() -> T:
            start = time.perf_counter()
            try:
                return work()
            finally:
                self.job_seconds.append(time.perf_counter() - start)

        return super().submit(timed, urgent, turn)


def trained(config: ImageLabConfig) -> ImageRun:
    run = ImageRun(config)
    run.train(50)
    return run


def run() -> Iterator[dict[str, Any]]:
    torch.set_num_threads(1)
    cnn = trained(ImageLabConfig())
    mlp = trained(ImageLabConfig(model=ImageModelConfig(conv_blocks=[], hidden_layers=[32])))
    snapshot_ms = []
    for _ in range(20):
        start = time.perf_counter()
        take_snapshot(cnn, new_trajectory(cnn.model))
        snapshot_ms.append((time.perf_counter() - start) * 1e3)
    yield {
        "name": "image_landscape_snapshot_ms",
        "value": round(statistics.median(snapshot_ms), 2),
        "unit": "ms",
    }
    for name, image_run in (("cnn", cnn), ("mlp", mlp)):
        snapshot = take_snapshot(image_run, new_trajectory(image_run.model))
        start = time.perf_counter()
        compute_landscape(snapshot, 21, 1.0, 0)
        yield {
            "name": f"image_landscape_21x21_{name}_ms",
            "value": round((time.perf_counter() - start) * 1e3),
            "unit": "ms",
        }

    scheduler = TimedScheduler()
    try:
        landscapes = ImageLandscapes(scheduler, PlayingSessions(1), "bench")
        snapshot = landscapes.snapshot(cnn)
        request = ImageLandscapeRequest(type="image_landscape", resolution=21)
        asyncio.run(landscapes.compute(snapshot, request))
    finally:
        scheduler.shutdown()
    jobs = scheduler.job_seconds
    yield {"name": "image_landscape_jobs", "value": len(jobs), "unit": "jobs"}
    yield {
        "name": "image_landscape_longest_job_ms",
        "value": round(max(jobs) * 1e3, 1),
        "unit": "ms",
    }
