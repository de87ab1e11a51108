"""Values and channels in this process only: the rooms' store when the app has none."""

from __future__ import annotations

import time

from app.store.base import Subscription
from app.store.local_bus import LocalBus


class MemoryRoomStore:
    """Enough of SessionStore for rooms (values with expiry, pub/sub); used by tests and by an
    app started without a session store."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._bus = LocalBus()

    async def get_value(self, key: str) -> bytes | None:
        found = self._values.get(key)
        if found is None:
            return None
        value, expires = found
        if expires is not None and time.monotonic() > expires:
            del self._values[key]
            return None
        return value

    async def set_value(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        expires = None if ttl_seconds is None else time.monotonic() + ttl_seconds
        self._values[key] = (value, expires)

    async def publish(self, channel: str, message: bytes) -> None:
        self._bus.publish(channel, message)

    async def subscribe(self, channel: str) -> Subscription:
        return self._bus.subscribe(channel)
