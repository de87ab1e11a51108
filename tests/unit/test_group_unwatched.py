"""Grouped runs whose pages all stopped reading train on in their group without building frames."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from app.protocol import ControlRequest
from app.realtime.fanout import STALLED_PAGE_SECONDS
from app.realtime.scheduler import EngineScheduler
from app.realtime.session import LiveSession
from app.realtime.turns import PlayingSessions
from app.settings import Settings
from app.training.session import TrainingSession


async def play_two_for(stall: bool, seconds: float = 20.0) -> tuple[int, list[int], int]:
    """(frames built, steps each run trained, steps trained on the group path) while one page
    watches each of two runs of one shape, stalled or reading."""
    scheduler, background = EngineScheduler(1, name="test"), ThreadPoolExecutor(1)
    playing = PlayingSessions(1)
    sessions = [
        LiveSession(f"s{i}", TrainingSession(), Settings(), scheduler, background, playing)
        for i in range(2)
    ]
    built = 0

    def counting(session: LiveSession) -> None:
        frame_of = session.loop.frame

        def counted(*args: object) -> object:
            nonlocal built
            built += 1
            return frame_of(*args)  # type: ignore[arg-type]

        session.loop.frame = counted  # type: ignore[method-assign,assignment]

    try:
        pages = []
        for session in sessions:
            counting(session)
            page = await session.attach()
            page.waiting_since -= 2 * STALLED_PAGE_SECONDS  # its first frame waited unread
            pages.append(page)

        async def read_frames() -> None:
            while True:
                for page in pages:
                    page.frame = None  # what a page's send loop does when its socket drains
                await asyncio.sleep(0.01)

        reader = None if stall else asyncio.create_task(read_frames())
        built = 0
        for session in sessions:
            await session.control(ControlRequest(type="control", action="play"))
        # Until both trained a few hundred steps in their group (a busy machine takes longer).
        for _ in range(int(seconds / 0.05)):
            await asyncio.sleep(0.05)
            if playing.groups.stats().grouped_steps >= 400 and (stall or built >= 10):
                break
        grouped_steps = playing.groups.stats().grouped_steps
        for session in sessions:
            await session.close()
        if reader is not None:
            reader.cancel()
        return built, [s.engine.step_count for s in sessions], grouped_steps
    finally:
        scheduler.shutdown()
        background.shutdown()


def test_grouped_runs_nobody_reads_train_without_building_frames() -> None:
    stalled_frames, stalled_steps, stalled_grouped = asyncio.run(play_two_for(stall=True))
    reading_frames, _, reading_grouped = asyncio.run(play_two_for(stall=False))
    assert stalled_grouped > 0 and reading_grouped > 0, "the runs never trained as a group"
    assert min(stalled_steps) >= 200, "the unwatched runs stopped training"
    # The pauses at the end build one each; reading pages get many.
    assert stalled_frames <= 4
    assert reading_frames >= 10
