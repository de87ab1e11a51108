"""Pub/sub inside one process: the channels of a single server (SQLite mode has no broker)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from app.store.base import Subscription

# A subscriber that stops reading loses its oldest messages past this many, not the server's
# memory.
MAX_QUEUED_MESSAGES = 256


class LocalSubscription(Subscription):
    def __init__(self, bus: LocalBus, channel: str) -> None:
        self._bus = bus
        self.channel = channel
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(MAX_QUEUED_MESSAGES)

    async def next(self) -> bytes:
        return await self.queue.get()

    async def close(self) -> None:
        self._bus.unsubscribe(self)


class LocalBus:
    def __init__(self) -> None:
        self._channels: defaultdict[str, set[LocalSubscription]] = defaultdict(set)

    def subscribe(self, channel: str) -> LocalSubscription:
        subscription = LocalSubscription(self, channel)
        self._channels[channel].add(subscription)
        return subscription

    def unsubscribe(self, subscription: LocalSubscription) -> None:
        subscribers = self._channels.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._channels[subscription.channel]

    def publish(self, channel: str, message: bytes) -> None:
        for subscription in self._channels.get(channel, ()):
            queue = subscription.queue
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)
