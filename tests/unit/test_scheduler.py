"""The engine workers' order: a user's change first, then the session that had least time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from app.realtime.scheduler import EngineScheduler
from app.realtime.turns import FLOOR_BURST_SECONDS, LOADED_ROUND_SECONDS, PlayingSessions

# Each wait ends on its event, in microseconds; the bound only keeps a bug from hanging the run.
PATIENCE_SECONDS = 60.0


@pytest.fixture
def scheduler() -> Iterator[EngineScheduler]:
    workers = EngineScheduler(1, name="test")
    yield workers
    workers.shutdown()


def hold(scheduler: EngineScheduler) -> threading.Event:
    """Keep the only worker busy until the returned event is set, so jobs queue up."""
    started, release = threading.Event(), threading.Event()

    def wait() -> None:
        started.set()
        release.wait(PATIENCE_SECONDS)

    scheduler.submit(wait)
    assert started.wait(PATIENCE_SECONDS)
    return release


def test_urgent_jobs_go_before_the_round_and_the_round_by_least_time(
    scheduler: EngineScheduler,
) -> None:
    release = hold(scheduler)
    order: list[str] = []
    jobs = [
        scheduler.submit(lambda: order.append("had 3 s"), turn=3.0),
        scheduler.submit(lambda: order.append("had 1 s"), turn=1.0),
        scheduler.submit(lambda: order.append("change A"), urgent=True),
        scheduler.submit(lambda: order.append("had 2 s"), turn=2.0),
        scheduler.submit(lambda: order.append("change B"), urgent=True),
    ]
    release.set()
    for job in jobs:
        job.future.result(PATIENCE_SECONDS)
    assert order == ["change A", "change B", "had 1 s", "had 2 s", "had 3 s"]


def test_a_promoted_burst_runs_once_and_before_the_round(scheduler: EngineScheduler) -> None:
    release = hold(scheduler)
    order: list[str] = []
    first = scheduler.submit(lambda: order.append("in turn"), turn=0.0)
    waiting = scheduler.submit(lambda: order.append("promoted"), turn=9.0)
    scheduler.promote(waiting)
    scheduler.promote(waiting)  # twice changes nothing
    release.set()
    first.future.result(PATIENCE_SECONDS)
    waiting.future.result(PATIENCE_SECONDS)
    assert order == ["promoted", "in turn"]


def test_a_cancelled_job_never_runs_and_errors_reach_the_caller(
    scheduler: EngineScheduler,
) -> None:
    release = hold(scheduler)
    ran: list[str] = []
    cancelled = scheduler.submit(lambda: ran.append("cancelled"))
    assert cancelled.future.cancel()

    def fail() -> None:
        raise ValueError("bad setting")

    failing = scheduler.submit(fail)
    release.set()
    with pytest.raises(ValueError, match="bad setting"):
        failing.future.result(PATIENCE_SECONDS)
    assert ran == []


def test_shutdown_cancels_what_waits_and_refuses_new_work() -> None:
    scheduler = EngineScheduler(1, name="test")
    release = hold(scheduler)
    waiting = scheduler.submit(lambda: None)

    def release_once_cancelled() -> None:
        # Not after a fixed delay: on a busy machine the held job sometimes ended before
        # shutdown had taken the queue, and the waiting job ran.
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not waiting.future.cancelled() and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()

    threading.Thread(target=release_once_cancelled).start()
    scheduler.shutdown()
    assert waiting.future.cancelled()
    with pytest.raises(RuntimeError):
        scheduler.submit(lambda: None)


def test_bursts_fill_the_frame_interval_and_under_load_the_round_stretches() -> None:
    playing = PlayingSessions(workers=1)
    playing.join("a")
    playing.measured(frame_seconds=0.02)
    assert playing.worker_each()
    alone = playing.burst_seconds(1 / 30)
    # One session: a burst plus its frame fill one frame interval.
    assert alone == pytest.approx(1 / 30 - playing.frame_seconds)
    for name in "bcdefghijklmnopqrst":
        playing.join(name)
    assert not playing.worker_each()
    loaded = playing.burst_seconds(1 / 30)
    # Twenty sessions on one worker: a round of twenty (burst + frame) takes LOADED_ROUND_SECONDS.
    assert 20 * (loaded + playing.frame_seconds) == pytest.approx(LOADED_ROUND_SECONDS)
    assert loaded >= FLOOR_BURST_SECONDS


def test_a_session_that_joins_late_starts_level_with_the_others() -> None:
    playing = PlayingSessions(workers=1)
    playing.join("early")
    playing.charge("early", 5.0)
    playing.join("late")
    assert playing.turn("late") == playing.turn("early") == 5.0
    playing.charge("late", 0.5)
    assert playing.turn("early") < playing.turn("late")
    playing.leave("early")
    assert "early" not in playing.used
