"""Resuming from the store: exactly where the run was, or refused with the session named."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
import torch

from app.store.errors import StoreUnavailable
from app.store.keys import new_session_id
from app.store.records import encode_run
from app.store.resume import Resumed, resume_from_store
from app.store.snapshot import take_snapshot
from app.store.sqlite_store import SqliteStore
from app.training.history import Timeline
from app.training.session import TrainingSession

T = TypeVar("T")


def resumed(store_path: Path, session_id: str, record: bytes | None) -> tuple[Resumed, list[str]]:
    """Stores `record` (if any) under `session_id`, then resumes it; and the threads the
    rebuild ran on."""
    threads: list[str] = []
    engine = ThreadPoolExecutor(1, thread_name_prefix="engine")
    decoder = ThreadPoolExecutor(1, thread_name_prefix="decoder")

    async def on_engine(work: Callable[[], T]) -> T:
        def run() -> T:
            threads.append(threading.current_thread().name)
            return work()

        return await asyncio.get_running_loop().run_in_executor(engine, run)

    async def scenario() -> Resumed:
        store = SqliteStore(store_path, 3600)
        try:
            if record is not None:
                await store.put(session_id, record, "replica-a")
            return await resume_from_store(
                store,
                session_id,
                "replica-b",
                decoder,
                on_engine,
                lambda: Timeline(max_bytes=123_456),
            )
        finally:
            await store.close()

    try:
        return asyncio.run(scenario()), threads
    finally:
        engine.shutdown()
        decoder.shutdown()


def test_a_stored_run_comes_back_exactly_rebuilt_on_the_engine_thread(tmp_path: Path) -> None:
    session = TrainingSession()
    for _ in range(6):
        session.burst(10)
    record = encode_run(take_snapshot(session, {"skip_zero_grad": True}))
    result, threads = resumed(tmp_path / "runs.db", new_session_id(), record)
    assert result.session is not None and result.refused is None
    assert result.snapshot is not None and result.snapshot.live == {"skip_zero_grad": True}
    assert threads and threads[0].startswith("engine")
    back = result.session
    assert back.step_count == session.step_count == 60
    assert back.timeline.max_bytes == 123_456
    for a, b in zip(session.model.parameters(), back.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_no_record_is_no_run_and_no_complaint(tmp_path: Path) -> None:
    result, threads = resumed(tmp_path / "runs.db", new_session_id(), None)
    assert result == Resumed(None) and threads == []


def test_a_corrupt_record_is_refused_with_a_log_line_naming_the_session(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record = bytearray(encode_run(take_snapshot(TrainingSession())))
    record[-10] ^= 0xFF
    session_id = new_session_id()
    with caplog.at_level(logging.WARNING, logger="app.store.resume"):
        result, _ = resumed(tmp_path / "runs.db", session_id, bytes(record))
    assert result.session is None and result.refused is not None
    assert "checksum" in result.refused
    assert any(session_id in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)


def test_an_unreachable_store_is_the_caller_s_to_handle(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the folder should be")
    with pytest.raises(StoreUnavailable):
        resumed(tmp_path / "blocked" / "runs.db", new_session_id(), None)
