"""All live sessions by id: creation within the limit, resumption, expiry, the engine threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from app.protocol import ShutdownNotice
from app.realtime.scheduler import EngineScheduler
from app.realtime.session import LiveSession
from app.realtime.turns import PlayingSessions
from app.settings import Settings
from app.training.config import LabConfig
from app.training.session import TrainingSession

log = logging.getLogger(__name__)


class SessionLimitError(Exception):
    """The server already holds its maximum number of sessions."""


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

    def count(self) -> int:
        return len(self.sessions)

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="session-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for session in list(self.sessions.values()):
            await session.close()
        self.sessions.clear()
        self.scheduler.shutdown()
        self.background.shutdown(wait=True, cancel_futures=True)

    async def open(
        self, session_id: str | None, config: LabConfig | None
    ) -> tuple[LiveSession, bool]:
        """Resume `session_id` if it is still here, else start a new session."""
        if self.closing:
            raise SessionLimitError("server restarting: try again in a few seconds")
        if session_id is not None and session_id in self.sessions:
            return self.sessions[session_id], True
        if len(self.sessions) >= self.settings.max_sessions:
            raise SessionLimitError(
                f"server busy: this server is full, all {self.settings.max_sessions} of its "
                "learner sessions are in use. Try again in a minute (or ask whoever runs it to "
                "raise BACKPROP_MAX_SESSIONS)."
            )
        engine = await self.scheduler.run(lambda: TrainingSession(config or LabConfig()), True)
        new_id = secrets.token_urlsafe(16)
        session = LiveSession(
            new_id, engine, self.settings, self.scheduler, self.background, self.playing
        )
        self.sessions[new_id] = session
        return session, False

    async def drop_if_unwatched(self, session: LiveSession) -> None:
        """Forget a session at once, unless a page still watches it."""
        if session.pages.subscribers or self.sessions.get(session.id) is not session:
            return
        del self.sessions[session.id]
        await session.close()

    def announce_shutdown(self) -> None:
        """Tell every page the server is going away, before its sockets are closed."""
        self.closing = True
        notice = ShutdownNotice(
            message="The server is restarting: this page reconnects when it is back, "
            "but the run's progress will be lost (your settings are kept)."
        )
        for session in self.sessions.values():
            session.pages.send_to_all(notice)

    async def expire_idle(self, now: float | None = None) -> int:
        """Drop sessions no page has watched for `session_ttl_seconds`."""
        now = time.monotonic() if now is None else now
        ttl = self.settings.session_ttl_seconds
        expired = [
            s
            for s in self.sessions.values()
            if s.detached_at is not None and now - s.detached_at > ttl
        ]
        for session in expired:
            del self.sessions[session.id]
            await session.close()
        return len(expired)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, self.settings.session_ttl_seconds / 2))
            try:
                await self.expire_idle()
            except Exception:
                log.exception("expiring idle sessions failed")
