"""One server with its SQLite store, restarted under a page: after SIGTERM the run resumes
exactly where it was (same step, same weights bit for bit), after SIGKILL from its last write,
and a corrupt record starts that page afresh with a notice and touches nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.store.keys import new_session_id
from app.store.sqlite_store import SqliteStore
from tests.store.pages import Page, health, stored_step, wait_until, weights
from tests.support.live_server import LiveServer

SETTINGS = {"learning_rate": 0.1, "optimizer": "adam"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    """The server's own store file, read as another process would."""
    store = SqliteStore(data_dir / "sessions.sqlite3", ttl_seconds=3600)
    yield store
    asyncio.run(store.close())


def start(data_dir: Path, port: int | None = None) -> LiveServer:
    return LiveServer({"BACKPROP_DATA_DIR": str(data_dir)}, port=port)


def playing_page(server: LiveServer, session_id: str) -> Page:
    page = Page(server.url, session_id)
    assert page.hello()["resumed"] is False
    page.send({"type": "set", **SETTINGS})
    page.send({"type": "control", "action": "play"})
    return page


def test_after_sigterm_a_reloaded_page_resumes_exactly_where_its_run_stopped(
    data_dir: Path,
) -> None:
    server = start(data_dir)
    session_id = new_session_id()
    try:
        page = playing_page(server, session_id)
        page.frame_at_least(300)
        server.process.terminate()
        last = page.frames_until_closed()[-1]
        server.process.wait(timeout=30)
    finally:
        server.stop()
    server = start(data_dir, port=server.port)
    try:
        page = Page(server.url, session_id)
        info = page.hello()
        assert (info["resumed"], info["resumed_step"]) == (True, last["step"])
        assert info["config"]["training"]["learning_rate"] == SETTINGS["learning_rate"]
        first = page.receive("frame")
        assert first["step"] == last["step"]
        assert weights(first) == weights(last), "the weights differ from the run's last frame"
        # It was playing: it plays on.
        assert page.frame_at_least(last["step"] + 1)["status"] == "running"
    finally:
        server.stop()


def test_after_sigkill_the_run_resumes_from_its_last_write(
    data_dir: Path, store: SqliteStore
) -> None:
    server = start(data_dir)
    session_id = new_session_id()
    try:
        page = playing_page(server, session_id)
        seen = page.frame_at_least(200)["step"]
        # Written behind while it trains: the store catches up with a step the page saw.
        wait_until(lambda: (stored_step(store, session_id) or 0) >= seen, "a write")
        server.kill()
    finally:
        server.stop()
    kept = stored_step(store, session_id)
    assert kept is not None and kept >= seen
    server = start(data_dir, port=server.port)
    try:
        info = Page(server.url, session_id).hello()
        assert (info["resumed"], info["resumed_step"]) == (True, kept)
        assert info["config"]["training"]["optimizer"] == SETTINGS["optimizer"]
    finally:
        server.stop()


def test_a_corrupt_record_starts_that_page_afresh_with_a_notice_and_nothing_else_is_touched(
    data_dir: Path, store: SqliteStore
) -> None:
    server = start(data_dir)
    broken, other = new_session_id(), new_session_id()
    try:
        asyncio.run(store.put(broken, b"not a run record at all" * 10, "someone"))
        running = playing_page(server, other)
        running.frame_at_least(10)
        page = Page(server.url, broken)
        info = page.hello()
        assert info["resumed"] is False and info["session_id"] == broken
        assert "could not be used" in info["notice"]
        wait_until(lambda: f"session {broken}: its stored run is refused" in server.log(), "a log")
        # The other run trains on, and the server is healthy.
        step = running.receive("frame")["step"]
        assert running.frame_at_least(step + 1)["step"] > step
        assert health(server.url)["store"]["status"] == "ok"
    finally:
        server.stop()
