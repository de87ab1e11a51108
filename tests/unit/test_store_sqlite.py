"""The embedded store: SQLite in a temporary folder, its expiry on a fake clock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from app.store.errors import StoreUnavailable
from app.store.factory import open_store
from app.store.keys import new_session_id
from app.store.redis_store import RedisStore
from app.store.sqlite_store import SqliteStore
from tests.support import store_contract


def sqlite_store(tmp_path: Path, **options: object) -> SqliteStore:
    return SqliteStore(tmp_path / "data" / "runs.db", 3600.0, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "check",
    [
        store_contract.records_round_trip,
        store_contract.only_token_shaped_ids_are_keys,
        store_contract.shared_values_are_apart_from_runs,
        store_contract.published_messages_reach_subscribers_in_order,
        store_contract.a_claimed_run_refuses_its_former_owner_s_writes,
    ],
)
def test_the_sqlite_store_keeps_its_promises(tmp_path: Path, check: object) -> None:
    async def scenario() -> None:
        store = sqlite_store(tmp_path)
        try:
            await check(store)  # type: ignore[operator]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_records_outlive_the_store_object_in_a_wal_file(tmp_path: Path) -> None:
    session_id = new_session_id()

    async def write() -> None:
        store = sqlite_store(tmp_path)
        await store.put(session_id, b"kept", "replica-a")
        await store.close()

    async def read() -> bytes | None:
        store = sqlite_store(tmp_path)
        try:
            return await store.get(session_id)
        finally:
            await store.close()

    asyncio.run(write())
    assert asyncio.run(read()) == b"kept"
    with sqlite3.connect(tmp_path / "data" / "runs.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_records_expire_after_their_ttl_and_a_touch_extends_it(tmp_path: Path) -> None:
    now = [1000.0]
    first, second = new_session_id(), new_session_id()

    async def scenario() -> None:
        store = sqlite_store(tmp_path, clock=lambda: now[0])
        await store.put(first, b"a", "replica-a")
        await store.put(second, b"b", "replica-a")
        now[0] += 3000
        assert await store.touch(second)
        now[0] += 1000  # 4000 s after the write, 1000 after the touch
        assert await store.get(first) is None
        assert await store.get(second) == b"b"
        assert not await store.touch(first)
        await store.set_value("room:1", b"x", ttl_seconds=10)
        await store.set_value("room:2", b"y")
        now[0] += 11
        assert await store.get_value("room:1") is None
        assert await store.get_value("room:2") == b"y"
        await store.close()

    asyncio.run(scenario())


def test_no_call_runs_on_the_event_loop_s_thread(tmp_path: Path) -> None:
    threads: list[str] = []
    loop_thread = threading.current_thread().name

    async def scenario() -> None:
        def clock() -> float:
            threads.append(threading.current_thread().name)
            return 0.0

        store = sqlite_store(tmp_path, clock=clock)
        await store.put(new_session_id(), b"x", "replica-a")
        await store.get(new_session_id())
        await store.close()

    asyncio.run(scenario())
    assert threads and all(t.startswith("sqlite-store") and t != loop_thread for t in threads)


def test_a_file_that_cannot_be_written_is_reported_as_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")

    async def scenario() -> None:
        store = sqlite_store(tmp_path)
        with pytest.raises(StoreUnavailable, match="sqlite"):
            await store.ping()
        await store.close()

    asyncio.run(scenario())


def test_the_url_chooses_the_store(tmp_path: Path) -> None:
    default = open_store(None, tmp_path, 60)
    assert isinstance(default, SqliteStore)
    assert default.path == (tmp_path / "sessions.sqlite3").resolve()
    named = open_store(f"sqlite://{tmp_path}/x.db", tmp_path, 60)
    assert isinstance(named, SqliteStore) and named.path == (tmp_path / "x.db").resolve()
    for url in ("redis://:s3cret@cache:6380/2", "rediss://user:s3cret@cache:6380/0"):
        store = open_store(url, tmp_path, 60)
        assert isinstance(store, RedisStore)
        assert "s3cret" not in store.describe() and "***" in store.describe()
    with pytest.raises(ValueError, match="unknown store URL 'http://:\\*\\*\\*@x'"):
        open_store("http://:pw@x", tmp_path, 60)
    with pytest.raises(ValueError, match="absolute"):
        open_store("sqlite://relative.db", tmp_path, 60)


def test_an_expired_claim_no_longer_keeps_its_former_owner_out(tmp_path: Path) -> None:
    now = [1000.0]
    session_id = new_session_id()

    async def scenario() -> None:
        store = sqlite_store(tmp_path, clock=lambda: now[0])
        await store.claim(session_id, "replica-b")
        assert not await store.put(session_id, b"a", "replica-a")
        now[0] += 3601
        assert await store.put(session_id, b"a", "replica-a")
        assert await store.get(session_id) == b"a"
        await store.close()

    asyncio.run(scenario())
