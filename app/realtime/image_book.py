"""The digits lab's runs by id, so that a page that reconnects (a network blip, a reload) finds
its run where it left it: weights, optimizer state and step.

A run is attached to at most one page. When its page goes, the run is paused and kept for
`session_ttl_seconds`, as the 2-D lab keeps its sessions; the page's tab remembers the id
(sessionStorage) and asks for it when it connects again. Runs are held in memory only: a
restart of the server starts the digits lab afresh from the settings in the page's URL, and
the page is told so before its socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from app.protocol.base import ServerModel
from app.realtime.image_live import ImageLive


@dataclass
class _Entry:
    live: ImageLive
    attached: bool = True
    detached_at: float = 0.0
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)
    released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class ImageRunBook:
    def __init__(self, ttl_seconds: float, max_kept: int) -> None:
        self._ttl = ttl_seconds
        # Detached runs kept at most (the oldest goes first): memory stays bounded however
        # many pages come and go within the time to live.
        self._max_kept = max_kept
        self._entries: dict[str, _Entry] = {}
        self._announcing: set[asyncio.Task[None]] = set()

    def attached(self) -> int:
        """Runs a page is connected to: what counts against the server's session limit."""
        return sum(1 for e in self._entries.values() if e.attached)

    def kept(self) -> int:
        return sum(1 for e in self._entries.values() if not e.attached)

    def add(self, live: ImageLive) -> None:
        self._entries[live.id] = _Entry(live)

    async def take(self, run_id: str | None, wait_seconds: float = 0.0) -> ImageLive | None:
        """The detached run of that id, attached again; None when it is unknown, expired, or
        still in use by another page after `wait_seconds` (a reloaded page may connect before
        the server has seen its old socket close; a duplicated tab gets a run of its own)."""
        entry = self._entries.get(run_id) if run_id else None
        if entry is not None and entry.attached and wait_seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.released.wait(), wait_seconds)
            entry = self._entries.get(run_id) if run_id else None
        if entry is None or entry.attached:
            return None
        entry.released.clear()
        if entry.expiry is not None:
            entry.expiry.cancel()
        entry.attached, entry.expiry = True, None
        return entry.live

    def release(self, live: ImageLive) -> None:
        """Its page is gone: keep the run (paused by the caller) for the time to live."""
        entry = self._entries.get(live.id)
        if entry is None:
            return
        entry.attached, entry.detached_at = False, time.monotonic()
        entry.released.set()
        entry.expiry = asyncio.get_running_loop().call_later(self._ttl, self._expire, live.id)
        detached = sorted(
            (e for e in self._entries.values() if not e.attached), key=lambda e: e.detached_at
        )
        for oldest in detached[: max(0, len(detached) - self._max_kept)]:
            self._expire(oldest.live.id)

    def _expire(self, run_id: str) -> None:
        entry = self._entries.get(run_id)
        if entry is not None and not entry.attached:
            if entry.expiry is not None:
                entry.expiry.cancel()
            del self._entries[run_id]

    def announce(self, notice: ServerModel) -> None:
        """Tell every attached page (the server is stopping); its socket closes next."""
        for entry in self._entries.values():
            if entry.attached:
                task = asyncio.create_task(entry.live.notify(notice))
                self._announcing.add(task)
                task.add_done_callback(self._announcing.discard)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._entries
