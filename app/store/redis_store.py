"""The shared store: Redis (redis-py's asyncio client), for several replicas behind a balancer.

`redis://[:password@]host:port/db`, `rediss://…` (TLS) and `unix://…` URLs are accepted as
redis-py reads them. Run records expire with Redis's own TTL; pub/sub reaches every replica.
A Redis that is down, refuses the password or times out is a StoreUnavailable naming why.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from app.store.base import SessionStore, Subscription
from app.store.errors import StoreUnavailable
from app.store.keys import session_key, shared_key

# A command waits at most this long for an answer (an 8 MB record is ~0.1 s on a LAN).
COMMAND_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0
# How often a subscription's reader wakes to see whether it was closed.
POLL_SECONDS = 1.0
PREFIX = "backprop:"
# Written only while nobody else claimed the run (KEYS: record, owner; ARGV: record, owner,
# TTL in ms): one script, so no claim can land between the check and the write.
PUT_IF_OWNER = """
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""


def redacted(url: str) -> str:
    """`url` without its password, for logs and /healthz."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def _bytes(value: bytes | str | None) -> bytes | None:
    # The client is made without decode_responses: values come back as bytes.
    return value.encode() if isinstance(value, str) else value


class RedisSubscription(Subscription):
    def __init__(self, store: RedisStore, pubsub: PubSub) -> None:
        self._store = store
        self._pubsub = pubsub

    async def next(self) -> bytes:
        while True:
            async with self._store.guarded():
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=POLL_SECONDS
                )
            if message is not None and message.get("type") == "message":
                data = message["data"]
                return data if isinstance(data, bytes) else str(data).encode()

    async def close(self) -> None:
        # Closing a connection to a server that is gone has nothing to report.
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()


class RedisStore(SessionStore):
    kind = "redis"

    def __init__(self, url: str, ttl_seconds: float) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            health_check_interval=30,
        )
        self._put_if_owner = self._client.register_script(PUT_IF_OWNER)

    @asynccontextmanager
    async def guarded(self) -> AsyncIterator[None]:
        try:
            yield
        except (TimeoutError, RedisError, OSError) as error:
            raise StoreUnavailable(
                f"redis {redacted(self.url)}: {type(error).__name__}: {error}"
            ) from None

    def _ttl_ms(self, seconds: float) -> int:
        return max(1, round(seconds * 1000))

    async def get(self, session_id: str) -> bytes | None:
        key = PREFIX + "run:" + session_key(session_id)
        async with self.guarded():
            return _bytes(await self._client.get(key))

    async def put(self, session_id: str, record: bytes, owner: str) -> bool:
        checked = session_key(session_id)
        keys = [PREFIX + "run:" + checked, PREFIX + "owner:" + checked]
        async with self.guarded():
            stored = await self._put_if_owner(
                keys=keys, args=[record, owner, self._ttl_ms(self.ttl_seconds)]
            )
        return bool(stored)

    async def claim(self, session_id: str, owner: str) -> None:
        key = PREFIX + "owner:" + session_key(session_id)
        async with self.guarded():
            await self._client.set(key, owner, px=self._ttl_ms(self.ttl_seconds))

    async def delete(self, session_id: str) -> None:
        checked = session_key(session_id)
        async with self.guarded():
            await self._client.delete(PREFIX + "run:" + checked, PREFIX + "owner:" + checked)

    async def touch(self, session_id: str) -> bool:
        checked = session_key(session_id)
        ttl = self._ttl_ms(self.ttl_seconds)
        async with self.guarded():
            await self._client.pexpire(PREFIX + "owner:" + checked, ttl)
            return bool(await self._client.pexpire(PREFIX + "run:" + checked, ttl))

    async def get_value(self, key: str) -> bytes | None:
        name = PREFIX + "kv:" + shared_key(key)
        async with self.guarded():
            return _bytes(await self._client.get(name))

    async def set_value(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        name = PREFIX + "kv:" + shared_key(key)
        expiry = None if ttl_seconds is None else self._ttl_ms(ttl_seconds)
        async with self.guarded():
            await self._client.set(name, value, px=expiry)

    async def delete_value(self, key: str) -> None:
        name = PREFIX + "kv:" + shared_key(key)
        async with self.guarded():
            await self._client.delete(name)

    async def publish(self, channel: str, message: bytes) -> None:
        name = PREFIX + "chan:" + shared_key(channel)
        async with self.guarded():
            await self._client.publish(name, message)

    async def subscribe(self, channel: str) -> Subscription:
        name = PREFIX + "chan:" + shared_key(channel)
        pubsub = self._client.pubsub()
        async with self.guarded():
            await pubsub.subscribe(name)
            # The server's confirmation: from here on every publish reaches this subscriber.
            while (await pubsub.get_message(timeout=POLL_SECONDS)) is None:
                pass
        return RedisSubscription(self, pubsub)

    async def ping(self) -> None:
        async with self.guarded():
            await self._client.ping()

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()

    def describe(self) -> str:
        return redacted(self.url)
