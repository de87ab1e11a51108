"""The digits lab's landscape, live: computed in several engine jobs that wait their turn, none
of them needing the run's lock (training goes on meanwhile)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TypeVar

from app.protocol.images import ImageLandscapeRequest
from app.realtime.image_landscape import next_chunk
from app.realtime.image_live import ImageLive
from app.realtime.scheduler import EngineScheduler, Job
from app.realtime.turns import PlayingSessions
from app.training.images.config import ImageLabConfig

T = TypeVar("T")
REQUEST = ImageLandscapeRequest(type="image_landscape", resolution=9, span=1.0)


class RecordingScheduler(EngineScheduler):
    def __init__(self) -> None:
        super().__init__(workers=1, name="test")
        self.urgent: list[bool] = []

    def submit(self, work: Callable[[], T], urgent: bool = False, turn: float = 0.0) -> Job[T]:
        self.urgent.append(urgent)
        return super().submit(work, urgent, turn)


async def landscape_with_the_run_lock_held(scheduler: RecordingScheduler) -> dict[str, object]:
    sent: list[dict[str, object]] = []
    arrived = asyncio.Event()

    async def send(text: str) -> None:
        sent.append(json.loads(text))
        if sent[-1]["type"] == "image_landscape":
            arrived.set()

    live = ImageLive(scheduler, PlayingSessions(1), send)
    await live.open(ImageLabConfig())
    await live.landscape(REQUEST)  # the snapshot is taken here, under the lock
    jobs_before = len(scheduler.urgent)
    with live._groups.lock:  # what a training burst holds; the landscape must not need it
        await asyncio.wait_for(arrived.wait(), timeout=120)
    await live.detach()
    answer = sent[-1]
    answer["jobs"] = scheduler.urgent[jobs_before:]
    return answer


def test_the_landscape_needs_no_run_lock_and_goes_in_several_jobs_in_turn() -> None:
    scheduler = RecordingScheduler()
    try:
        answer = asyncio.run(landscape_with_the_run_lock_held(scheduler))
    finally:
        scheduler.shutdown()
    assert answer["type"] == "image_landscape" and answer["resolution"] == 9
    jobs = answer["jobs"]
    assert isinstance(jobs, list) and len(jobs) > 1 and not any(jobs)


def test_a_chunk_is_sized_from_the_last_one_s_speed() -> None:
    assert next_chunk(10, 0.01) == 40  # 1 ms a point: 40 ms worth
    assert next_chunk(1, 1.0) == 1  # a slow point: never less than one
    assert next_chunk(4, 0.0) == 8  # too fast to time: double
