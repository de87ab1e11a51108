"""All live sessions by id: creation within the limit, resumption, expiry, the engine threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from app.protocol import ShutdownNotice
from app.realtime.persistence import NewSessionLimit, Persistence, Restored, valid_session_id
from app.realtime.scheduler import EngineScheduler
from app.realtime.session import LiveSession
from app.realtime.turns import PlayingSessions
from app.settings import Settings
from app.store.keys import new_session_id
from app.training.config import LabConfig
from app.training.session import TrainingSession

log = logging.getLogger(__name__)


class SessionLimitError(Exception):
    """The server already holds its maximum number of sessions."""


@dataclass(frozen=True)
class Opened:
    """The session a page said hello to: `resumed` from memory or from the store (then at
    `resumed_step`); `notice` says why a run the page asked for starts afresh instead."""

    session: LiveSession
    resumed: bool
    resumed_step: int | None = None
    notice: str | None = None


class SessionRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions: dict[str, LiveSession] = {}
        self.scheduler = EngineScheduler(settings.worker_threads)
        # Loss surfaces and races: beside training, on their own thread, so a second-long
        # surface of the largest model never holds up a round of bursts.
        self.background = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="surface",
            initializer=torch.set_num_threads,
            initargs=(1,),
        )
        self._reaper: asyncio.Task[None] | None = None
        self.playing = PlayingSessions(settings.worker_threads)
        # Set on SIGTERM: pages are told, and no new session starts on a server about to stop.
        self.closing = False
        self.persistence = Persistence(settings, self._lost)
        self.new_sessions = NewSessionLimit(
            settings.new_sessions_per_address, settings.new_session_refill_seconds
        )
        # One run opened at a time, so two tabs resuming the same run share one copy (a resume
        # waits on the store's one decoding thread anyway).
        self._opening = asyncio.Lock()
        self._exit_pause: asyncio.Task[None] | None = None
        self._dropping: set[asyncio.Task[None]] = set()

    def count(self) -> int:
        return len(self.sessions)

    def attached(self) -> int:
        """Sessions a page watches: what counts against `max_sessions`."""
        return sum(1 for s in self.sessions.values() if s.pages.subscribers)

    def full(self) -> bool:
        return self.attached() >= self.settings.max_sessions

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="session-reaper")
        self.persistence.start()

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        # Every run stopped where it is before the last writes, so a resumed run is exactly
        # where it was.
        if self._exit_pause is not None:
            await self._exit_pause
        await self._pause_all()
        await self.persistence.stop()
        for session in list(self.sessions.values()):
            await session.close()
        self.sessions.clear()
        self.scheduler.shutdown()
        self.background.shutdown(wait=True, cancel_futures=True)

    async def open(
        self,
        session_id: str | None,
        config: LabConfig | None,
        address: str = "",
        replacing: bool = False,
    ) -> Opened:
        """Resume `session_id` from memory or the store, else start a new session (under that
        id when the page minted a valid one, so a balancer routing on it keeps it here).
        `replacing`: the connection's previous run was just dropped, so a new one is not one
        more for its address."""
        if self.closing:
            raise SessionLimitError("server restarting: try again in a few seconds")
        wanted = valid_session_id(session_id)
        if wanted is None:
            return await self._open_new(new_session_id(), config, address, None, replacing)
        async with self._opening:
            if wanted in self.sessions:
                return Opened(self.sessions[wanted], True)
            await self._make_room()
            restored = await self.persistence.resume(wanted, self.scheduler)
            if restored.engine is not None:
                return self._open_restored(wanted, restored)
            return await self._open_new(wanted, config, address, restored.notice, replacing)

    async def _open_new(
        self,
        session_id: str,
        config: LabConfig | None,
        address: str,
        notice: str | None,
        replacing: bool,
    ) -> Opened:
        if not replacing and not self.new_sessions.allow(address):
            raise SessionLimitError(self.new_sessions.refusal())
        await self._make_room()
        engine = await self.scheduler.run(lambda: TrainingSession(config or LabConfig()), True)
        return Opened(self._add(session_id, engine), False, notice=notice)

    def _open_restored(self, session_id: str, restored: Restored) -> Opened:
        assert restored.engine is not None
        session = self._add(session_id, restored.engine)
        session.restore_knobs(restored.knobs or {})
        step = restored.engine.step_count
        log.info("session %s: resumed from the store at step %d", session_id, step)
        return Opened(session, True, resumed_step=step)

    def _add(self, session_id: str, engine: TrainingSession) -> LiveSession:
        session = LiveSession(
            session_id, engine, self.settings, self.scheduler, self.background, self.playing
        )
        session.loop.on_change = lambda: self.persistence.changed(session)
        self.sessions[session_id] = session
        # Written from the start, so even a run never played can make room (evicted).
        self.persistence.changed(session)
        return session

    def _busy(self) -> SessionLimitError:
        return SessionLimitError(
            f"server busy: this server is full, all {self.settings.max_sessions} of its "
            "learner sessions are in use. Try again in a minute (or ask whoever runs it to "
            "raise BACKPROP_MAX_SESSIONS)."
        )

    async def _make_room(self) -> None:
        """Room in memory for one more run: memory is a cache of the store, so runs no page
        watches are written and evicted (oldest first); only watched runs count as in use."""
        if self.full():
            raise self._busy()
        if len(self.sessions) < self.settings.max_sessions:
            return
        detached = sorted(
            (s for s in self.sessions.values() if s.detached_at is not None),
            key=lambda s: s.detached_at or 0.0,
        )
        for session in detached:
            stored = await self.persistence.evict(session.id)
            still_detached = not session.pages.subscribers
            if stored and self.sessions.get(session.id) is session and still_detached:
                await self._forget(session)
                return
        raise self._busy()

    async def _forget(self, session: LiveSession) -> None:
        """Out of memory; its record stays in the store."""
        del self.sessions[session.id]
        self.persistence.writer.forget(session.id)
        await session.close()

    def _lost(self, session_id: str) -> None:
        """Another replica runs `session_id` now: this copy goes, and its pages (if any) are
        told and disconnected so that they reconnect to wherever the run is."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return
        log.info("session %s: another replica resumed it; dropped here", session_id)
        session.moved = True
        session.pages.send_to_all(
            ShutdownNotice(message="This run moved to another server: reconnecting to it.")
        )
        task = asyncio.create_task(session.close(), name=f"drop-{session_id}")
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _pause_and_flush(self) -> None:
        """Written at once, not at the lifespan's end: a server that gives up on a page that
        stopped reading exits without running it."""
        await self._pause_all()
        await self.persistence.writer.flush()

    async def _pause_all(self) -> None:
        for session in list(self.sessions.values()):
            await session.pause_for_exit()
            self.persistence.changed(session)

    async def drop_if_unwatched(self, session: LiveSession) -> None:
        """Forget a session at once, unless a page still watches it."""
        if session.pages.subscribers or self.sessions.get(session.id) is not session:
            return
        del self.sessions[session.id]
        await session.close()
        await self.persistence.discard(session.id)

    def announce_shutdown(self) -> None:
        """Tell every page the server is going away, before its sockets are closed."""
        self.closing = True
        notice = ShutdownNotice(
            message="The server is restarting: this page reconnects when it is back and the "
            "run resumes where it stopped."
        )
        for session in self.sessions.values():
            session.pages.send_to_all(notice)
        # Paused now, so the writes on exit hold the runs exactly as the pages last saw them.
        self._exit_pause = asyncio.create_task(self._pause_and_flush(), name="pause-for-exit")

    async def expire_idle(self, now: float | None = None) -> int:
        """Out of memory: sessions no page has watched for `session_ttl_seconds` (they resume
        from the store when their page returns; if the store cannot take them, they go all
        the same, or memory would grow while it is down)."""
        now = time.monotonic() if now is None else now
        ttl = self.settings.session_ttl_seconds
        expired = [
            s
            for s in self.sessions.values()
            if s.detached_at is not None and now - s.detached_at > ttl
        ]
        for session in expired:
            if not await self.persistence.evict(session.id):
                log.warning("session %s: expired from memory before it could be stored", session.id)
            if self.sessions.get(session.id) is session and not session.pages.subscribers:
                await self._forget(session)
        return len(expired)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, self.settings.session_ttl_seconds / 2))
            try:
                await self.expire_idle()
            except Exception:
                log.exception("expiring idle sessions failed")
