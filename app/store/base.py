"""The store's one interface: run records by session id, shared values, and pub/sub channels.

Every method is a coroutine that never blocks the event loop (SQLite works on its own thread,
Redis is asyncio). A store that cannot answer raises StoreUnavailable naming why; the caller
keeps training in memory and tries again later (writer.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType


class Subscription(ABC):
    """Messages published on one channel since subscribing, in order; iterate, then close."""

    @abstractmethod
    async def next(self) -> bytes:
        """The next message (waits for one)."""

    @abstractmethod
    async def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        return await self.next()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class SessionStore(ABC):
    """Run records expire `ttl_seconds` after they were last written or touched.

    Each record has an owner: the replica that runs it. A replica that resumes a run claims it
    first; from then on the writes of the replica that ran it before are refused (put returns
    False), so a run that moved (its replica was slow, not dead) is never overwritten by its
    stale copy, which that replica then drops."""

    # "sqlite" or "redis": what /healthz reports.
    kind: str
    ttl_seconds: float

    @abstractmethod
    async def get(self, session_id: str) -> bytes | None:
        """The record of `session_id`, or None if there is none (or it expired)."""

    @abstractmethod
    async def put(self, session_id: str, record: bytes, owner: str) -> bool:
        """Store (or replace) the record, unless another owner claimed it: False then. A
        record nobody owns yet becomes `owner`'s. Its expiry starts again."""

    @abstractmethod
    async def claim(self, session_id: str, owner: str) -> None:
        """`owner` runs `session_id` from now on (before reading the record to resume it)."""

    @abstractmethod
    async def delete(self, session_id: str) -> None: ...

    @abstractmethod
    async def touch(self, session_id: str) -> bool:
        """Start the record's expiry again without rewriting it; False if there is none."""

    @abstractmethod
    async def get_value(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def set_value(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        """A shared value (a room, a result) for every replica; kept forever without a TTL."""

    @abstractmethod
    async def delete_value(self, key: str) -> None: ...

    @abstractmethod
    async def publish(self, channel: str, message: bytes) -> None:
        """To every subscriber of `channel` (in every replica, with Redis)."""

    @abstractmethod
    async def subscribe(self, channel: str) -> Subscription:
        """Subscribed when this returns: every later publish reaches it."""

    @abstractmethod
    async def ping(self) -> None:
        """Returns if the store answers; StoreUnavailable otherwise."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for logs and /healthz (never a password)."""
