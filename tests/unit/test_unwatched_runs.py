"""A run whose every page stopped reading trains on without building frames nobody reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from app.protocol import ControlRequest
from app.realtime.fanout import STALLED_PAGE_SECONDS
from app.realtime.scheduler import EngineScheduler
from app.realtime.session import LiveSession
from app.settings import Settings
from app.training.session import TrainingSession

# Generous: each wait below ends on its condition, usually within a second; a slow machine is
# not a failure.
PATIENCE_SECONDS = 60.0
# Long enough for a page that reads to be sent a frame at each of ~18 beats.
MIN_PLAY_SECONDS = 0.6


async def play_until(stall: bool, done: Callable[[int, int], bool]) -> tuple[int, int]:
    """(frames built, steps trained) once done(frames, steps) holds, while one page watches,
    stalled or reading, for at least MIN_PLAY_SECONDS."""
    scheduler, background = EngineScheduler(1, name="test"), ThreadPoolExecutor(1)
    session = LiveSession("s", TrainingSession(), Settings(), scheduler, background)
    built = 0
    frame_of = session.loop.frame

    def counted(*args: object) -> object:
        nonlocal built
        built += 1
        return frame_of(*args)  # type: ignore[arg-type]

    session.loop.frame = counted  # type: ignore[method-assign]
    try:
        page = await session.attach()
        page.waiting_since -= 2 * STALLED_PAGE_SECONDS  # as if its first frame waited unread

        async def read_frames() -> None:
            while True:
                page.frame = None  # what the page's send loop does when its socket drains
                await asyncio.sleep(0.01)

        reader = None if stall else asyncio.create_task(read_frames())
        built = 0
        await session.control(ControlRequest(type="control", action="play"))
        started = time.monotonic()
        while time.monotonic() - started < MIN_PLAY_SECONDS or not done(
            built, session.engine.step_count
        ):
            assert time.monotonic() - started < PATIENCE_SECONDS, "the run did not get there"
            await asyncio.sleep(0.01)
        await session.close()
        if reader is not None:
            reader.cancel()
        return built, session.engine.step_count
    finally:
        scheduler.shutdown()
        background.shutdown()


def test_a_run_nobody_reads_trains_without_building_frames() -> None:
    stalled_frames, stalled_steps = asyncio.run(play_until(True, lambda _, steps: steps > 100))
    reading_frames, _ = asyncio.run(play_until(False, lambda frames, _: frames >= 5))
    assert stalled_steps > 100, "the unwatched run stopped training"
    # The pause at the end builds one; a reading page gets one at each beat (~30 a second).
    assert stalled_frames <= 2
    assert reading_frames >= 5
