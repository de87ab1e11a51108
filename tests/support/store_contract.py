"""What every SessionStore does, as checks run against SQLite and against a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from app.store.base import SessionStore
from app.store.errors import InvalidKey
from app.store.keys import new_session_id


async def records_round_trip(store: SessionStore) -> None:
    first, second = new_session_id(), new_session_id()
    record = bytes(range(256)) * 1000
    assert await store.get(first) is None
    assert await store.put(first, record, "replica-a")
    assert await store.put(second, b"other", "replica-a")
    assert await store.get(first) == record
    assert await store.put(first, b"replaced", "replica-a")
    assert await store.get(first) == b"replaced"
    assert await store.touch(first)
    await store.delete(first)
    assert await store.get(first) is None
    assert not await store.touch(first)
    assert await store.get(second) == b"other"


async def only_token_shaped_ids_are_keys(store: SessionStore) -> None:
    for bad in ("", "short", "a" * 21, "../../etc/passwd-xxxxxxxxxxxxx", "kv:" + "a" * 30):
        with pytest.raises(InvalidKey):
            await store.get(bad)
        with pytest.raises(InvalidKey):
            await store.put(bad, b"x", "replica-a")


async def shared_values_are_apart_from_runs(store: SessionStore) -> None:
    session_id = new_session_id()
    await store.put(session_id, b"run", "replica-a")
    assert await store.get_value(session_id) is None
    await store.set_value("room:7", b"lesson")
    assert await store.get_value("room:7") == b"lesson"
    await store.delete_value("room:7")
    assert await store.get_value("room:7") is None
    assert await store.get(session_id) == b"run"


async def published_messages_reach_subscribers_in_order(store: SessionStore) -> None:
    subscription = await store.subscribe("room:1")
    other = await store.subscribe("room:2")
    try:
        for n in range(3):
            await store.publish("room:1", f"message {n}".encode())
        received = [await asyncio.wait_for(subscription.next(), 10) for _ in range(3)]
        assert received == [b"message 0", b"message 1", b"message 2"]
        await store.publish("room:2", b"elsewhere")
        assert await asyncio.wait_for(other.next(), 10) == b"elsewhere"
    finally:
        await subscription.close()
        await other.close()


async def a_claimed_run_refuses_its_former_owner_s_writes(store: SessionStore) -> None:
    moved, stays = new_session_id(), new_session_id()
    assert await store.put(moved, b"a1", "replica-a")
    assert await store.put(stays, b"a1", "replica-a")
    await store.claim(moved, "replica-b")
    assert await store.get(moved) == b"a1"  # the claim keeps the record to resume from
    assert not await store.put(moved, b"a2 (stale)", "replica-a")
    assert await store.put(moved, b"b1", "replica-b")
    assert await store.get(moved) == b"b1"
    assert await store.put(stays, b"a2", "replica-a")
    fresh = new_session_id()
    await store.claim(fresh, "replica-b")  # claimed before anything was stored
    assert await store.get(fresh) is None
    assert not await store.put(fresh, b"a", "replica-a")
    assert await store.put(fresh, b"b", "replica-b")
