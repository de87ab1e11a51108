"""The shared store against a real redis-server on loopback, with a password."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as redis

from app.store.errors import StoreUnavailable
from app.store.keys import new_session_id
from app.store.redis_store import RedisStore
from tests.support import store_contract
from tests.support.redis_server import RedisServer


def with_store(url: str, scenario: Callable[[RedisStore], Awaitable[None]]) -> None:
    async def run() -> None:
        store = RedisStore(url, ttl_seconds=3600)
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(run())


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
def test_the_redis_store_keeps_its_promises(
    redis_server: RedisServer, check: Callable[[RedisStore], Awaitable[None]]
) -> None:
    with_store(redis_server.url, check)


def test_records_carry_redis_s_own_expiry_and_a_touch_restarts_it(
    redis_server: RedisServer,
) -> None:
    session_id = new_session_id()

    async def scenario(store: RedisStore) -> None:
        raw = redis.Redis.from_url(redis_server.url)
        key = f"backprop:run:{session_id}"
        await store.put(session_id, b"run", "replica-a")
        assert 0 < await raw.pttl(key) <= 3_600_000
        await raw.pexpire(key, 5000)
        assert await store.touch(session_id)
        assert await raw.pttl(key) > 5000
        await store.set_value("room:1", b"x", ttl_seconds=60)
        assert 0 < await raw.pttl("backprop:kv:room:1") <= 60_000
        await store.set_value("room:2", b"y")
        assert await raw.pttl("backprop:kv:room:2") == -1  # no expiry
        await raw.aclose()

    with_store(redis_server.url, scenario)


@pytest.mark.parametrize("password", [None, "wrong"])
def test_without_the_right_password_the_store_is_unavailable_and_says_so(
    redis_server: RedisServer, password: str | None
) -> None:
    auth = f":{password}@" if password else ""
    url = f"redis://{auth}127.0.0.1:{redis_server.port}/0"

    async def scenario(store: RedisStore) -> None:
        with pytest.raises(StoreUnavailable, match=r"AuthenticationError|NOAUTH|invalid"):
            await store.put(new_session_id(), b"run", "replica-a")
        with pytest.raises(StoreUnavailable) as refused:
            await store.ping()
        assert "wrong" not in str(refused.value)

    with_store(url, scenario)


def test_a_stopped_redis_is_reported_and_the_same_store_works_when_it_returns(
    redis_server: RedisServer,
) -> None:
    session_id = new_session_id()

    async def scenario(store: RedisStore) -> None:
        await store.put(session_id, b"before", "replica-a")
        redis_server.kill()
        with pytest.raises(StoreUnavailable, match="redis redis://:\\*\\*\\*@127.0.0.1"):
            await store.put(session_id, b"during", "replica-a")
        with pytest.raises(StoreUnavailable):
            await store.ping()
        redis_server.start()  # same port and password, empty (no persistence in tests)
        await store.ping()
        await store.put(session_id, b"after", "replica-a")
        assert await store.get(session_id) == b"after"

    with_store(redis_server.url, scenario)


def test_a_rediss_url_speaks_tls_to_a_tls_only_redis() -> None:
    server = RedisServer(password="class-of-2026", tls=True)
    try:
        assert server.url.startswith("rediss://")
        with_store(server.url, store_contract.records_round_trip)
        plain = server.url.replace("rediss://", "redis://").split("?")[0]

        async def refused(store: RedisStore) -> None:
            with pytest.raises(StoreUnavailable):
                await store.ping()

        with_store(plain, refused)
    finally:
        server.close()
