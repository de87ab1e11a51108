"""A run whose every page stopped reading trains on without building frames nobody reads."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from app.protocol import ControlRequest
from app.realtime.fanout import STALLED_PAGE_SECONDS
from app.realtime.scheduler import EngineScheduler
from app.realtime.session import LiveSession
from app.settings import Settings
from app.training.session import TrainingSession


async def play_for(stall: bool, seconds: float = 0.6) -> tuple[int, int]:
    """(frames built, steps trained) while one page watches, stalled or reading."""
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
        await asyncio.sleep(seconds)
        await session.close()
        if reader is not None:
            reader.cancel()
        return built, session.engine.step_count
    finally:
        scheduler.shutdown()
        background.shutdown()


def test_a_run_nobody_reads_trains_without_building_frames() -> None:
    stalled_frames, stalled_steps = asyncio.run(play_for(stall=True))
    reading_frames, reading_steps = asyncio.run(play_for(stall=False))
    assert stalled_steps > 100, "the unwatched run stopped training"
    # The pause at the end builds one; a reading page gets ~30 a second.
    assert stalled_frames <= 2
    assert reading_frames >= 5
