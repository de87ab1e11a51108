"""Watching a run that another worker (or replica) holds: its page messages relayed through the
store's channels.

A teacher's tile click or a spotlight attaches the watching socket to the run's live session;
with several workers the run is in another process's memory about N-1 times in N. The watcher
asks on REQUESTS_CHANNEL; the worker holding the run attaches a relay page to it, which renders
what a page is owed as usual and publishes the JSON texts on the run's own channel, for as long
as a watcher keeps asking (a heartbeat). One relay serves every watcher of a run: a spotlight
on one run for a class of 100 publishes each frame once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque

from app.realtime.fanout import Subscriber
from app.realtime.session import LiveSession
from app.room.book import RoomStore
from app.store.base import Subscription

log = logging.getLogger(__name__)

REQUESTS_CHANNEL = "watch-requests"
# A watcher asks again this often; a relay nobody asked for this long ends.
HEARTBEAT_SECONDS = 2.0
RELAY_IDLE_SECONDS = 3 * HEARTBEAT_SECONDS
# How long a watcher waits for the run's first message before saying it is open nowhere.
FIRST_MESSAGE_SECONDS = 3.0
# Texts a watcher's socket has not sent yet; past this the oldest go (a slow page misses some).
MAX_PENDING_TEXTS = 64
# New watchers are sent the whole picture at most this often: a spotlight brings a class's
# requests within a second, and each resend (points, runs, the whole loss history) goes to all.
RESEND_SECONDS = 0.5


def texts_channel(session_id: str) -> str:
    return f"watch-texts:{session_id}"


def request_message(session_id: str, fresh: bool) -> bytes:
    return json.dumps({"session": session_id, "fresh": fresh}).encode()


class Relay:
    """A page of `session` in this worker whose messages go to the store's channel."""

    def __init__(self, session: LiveSession, store: RoomStore) -> None:
        self.session = session
        self.store = store
        self.deadline = time.monotonic() + RELAY_IDLE_SECONDS
        self.subscriber: Subscriber | None = None
        self.task: asyncio.Task[None] | None = None
        self._resend_due = False

    def start(self) -> None:
        self.task = asyncio.create_task(self._forward())

    def ask_again(self, fresh: bool) -> None:
        self.deadline = time.monotonic() + RELAY_IDLE_SECONDS
        if fresh and self.subscriber is not None:
            # A new watcher needs the whole picture: the points, the runs, the loss history,
            # the graph and the latest frame, as a page that just attached gets them.
            self._resend_due = True
            self.subscriber.wakeup.set()

    async def _forward(self) -> None:
        session = self.session
        self.subscriber = subscriber = await session.attach()
        channel = texts_channel(session.id)
        resent = time.monotonic()
        try:
            while time.monotonic() < self.deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(subscriber.wakeup.wait(), RESEND_SECONDS)
                subscriber.wakeup.clear()
                if self._resend_due and time.monotonic() - resent >= RESEND_SECONDS:
                    self._resend_due, resent = False, time.monotonic()
                    resend(subscriber, session)
                for text in session.pages.render(subscriber):
                    await self.store.publish(channel, text.encode())
        finally:
            await session.detach(subscriber)


def resend(subscriber: Subscriber, session: LiveSession) -> None:
    subscriber.data_version = -1
    subscriber.runs_version = -1
    subscriber.history_generation = -1
    subscriber.backprop_sent = {}
    if session.pages.latest is not None:
        subscriber.offer(session.pages.latest)
    subscriber.wakeup.set()


class WatchRelays:
    """This worker's relays: it answers requests for the runs it holds."""

    def __init__(self, sessions: dict[str, LiveSession], store: RoomStore) -> None:
        self.sessions = sessions
        self.store = store
        self.relays: dict[str, Relay] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        subscription = await self.store.subscribe(REQUESTS_CHANNEL)
        self._task = asyncio.create_task(self._serve(subscription))

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *(r.task for r in self.relays.values())) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _serve(self, subscription: Subscription) -> None:
        try:
            async for raw in subscription:
                try:
                    request = json.loads(raw)
                    session_id, fresh = str(request["session"]), bool(request["fresh"])
                except (ValueError, KeyError, TypeError):
                    continue  # not ours to answer
                self.requested(session_id, fresh)
        finally:
            await subscription.close()

    def requested(self, session_id: str, fresh: bool) -> None:
        session = self.sessions.get(session_id)
        if session is None:
            return  # another worker's run, or none's
        relay = self.relays.get(session_id)
        if relay is None or relay.task is None or relay.task.done():
            relay = self.relays[session_id] = Relay(session, self.store)
            relay.start()
        else:
            relay.ask_again(fresh)
        for ended in [k for k, r in self.relays.items() if r.task is not None and r.task.done()]:
            del self.relays[ended]


class RemoteWatch:
    """The watcher's end: the relayed texts of a run held elsewhere, for one socket."""

    def __init__(self, store: RoomStore, session_id: str, wakeup: asyncio.Event) -> None:
        self.store = store
        self.session_id = session_id
        self.wakeup = wakeup
        self.texts: deque[str] = deque(maxlen=MAX_PENDING_TEXTS)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> bool:
        """Subscribed and asked; False (and closed) when no worker answers in time."""
        subscription = await self.store.subscribe(texts_channel(self.session_id))
        first = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._pump(subscription, first)))
        await self.store.publish(REQUESTS_CHANNEL, request_message(self.session_id, True))
        try:
            await asyncio.wait_for(first.wait(), FIRST_MESSAGE_SECONDS)
        except TimeoutError:
            await self.close()
            return False
        self._tasks.append(asyncio.create_task(self._heartbeat()))
        return True

    def take(self) -> list[str]:
        texts = list(self.texts)
        self.texts.clear()
        return texts

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _pump(self, subscription: Subscription, first: asyncio.Event) -> None:
        try:
            async for raw in subscription:
                self.texts.append(raw.decode())
                first.set()
                self.wakeup.set()
        finally:
            await subscription.close()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.store.publish(REQUESTS_CHANNEL, request_message(self.session_id, False))
            except Exception:  # the store is down: the relay ends, the page shows it stalled
                log.warning("watching %s: the store did not take a heartbeat", self.session_id)
