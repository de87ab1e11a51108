"""The digits lab's runs by id, so that a page that reconnects (a network blip, a reload, a
restart of the server, another replica behind the load balancer) finds its run where it left
it: weights, optimizer state, batch order and step.

A run is attached to at most one page. When its page goes, the run is paused, written to the
store, and kept in memory for `session_ttl_seconds`, as the 2-D lab keeps its sessions; the
tab remembers the id (sessionStorage) and asks for it when it connects again. Playing runs are
written every WRITE_EVERY_SECONDS, and all of them when the server is told to stop, so a
restart loses at most those last seconds. Past the memory's time to live a run is read back
from the store (SQLite, or Redis when scaled out), which keeps it `store_ttl_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from app.protocol.base import ServerModel
from app.realtime.image_live import ImageLive
from app.realtime.registry import SessionRegistry
from app.store.errors import InvalidKey, StoreUnavailable
from app.store.keys import session_key
from app.training.images.model_file import ModelFileError
from app.training.images.run_state import decode_run

log = logging.getLogger(__name__)

# How much playing a restart may lose (a write of the default CNN is ~60 kB, ~1 ms to encode).
WRITE_EVERY_SECONDS = 5.0


@dataclass
class _Entry:
    live: ImageLive
    attached: bool = True
    detached_at: float = 0.0
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)
    released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    # A digest of what the store holds for it: an unchanged run is not written again.
    written: bytes = b""


class ImageRunBook:
    def __init__(self, ttl_seconds: float, max_kept: int) -> None:
        self._ttl = ttl_seconds
        # Detached runs kept in memory at most (the oldest go first, already in the store):
        # memory stays bounded however many pages come and go within the time to live.
        self._max_kept = max_kept
        self._entries: dict[str, _Entry] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._registry: SessionRegistry | None = None
        self._writer: asyncio.Task[None] | None = None

    def start(self, registry: SessionRegistry) -> None:
        """Runs are written to, and resumed from, the registry's store from now on."""
        self._registry = registry
        self._writer = asyncio.create_task(self._write_playing(), name="image-runs-writer")

    async def stop(self) -> None:
        """Every run written (paused first), before the store closes."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.flush()
        self._registry = None

    def attached(self) -> int:
        """Runs a page is connected to: what counts against the server's session limit."""
        return sum(1 for e in self._entries.values() if e.attached)

    def kept(self) -> int:
        return sum(1 for e in self._entries.values() if not e.attached)

    def add(self, live: ImageLive) -> None:
        self._entries[live.id] = _Entry(live)

    def free_id(self, run_id: str | None) -> str | None:
        """`run_id` for a new run if it is a token's shape and no run of this server has it
        (take() found none in the store either); None: let the run draw its own."""
        try:
            key = session_key(run_id) if run_id else None
        except InvalidKey:
            return None
        return key if key is not None and key not in self._entries else None

    async def take(self, run_id: str | None, wait_seconds: float = 0.0) -> ImageLive | None:
        """The run of that id, attached again, from memory or else from the store; None when
        it is unknown, expired, or still in use by another page after `wait_seconds` (a
        reloaded page may connect before the server has seen its old socket close; a
        duplicated tab gets a run of its own)."""
        try:
            run_id = session_key(run_id) if run_id else None
        except InvalidKey:
            return None
        if run_id is None:
            return None
        entry = self._entries.get(run_id)
        if entry is not None and entry.attached and wait_seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.released.wait(), wait_seconds)
            entry = self._entries.get(run_id)
        if entry is None:
            return await self._from_store(run_id)
        if entry.attached:
            return None
        if entry.expiry is not None:
            entry.expiry.cancel()
        entry.attached, entry.expiry = True, None
        entry.released.clear()
        return entry.live

    async def _from_store(self, run_id: str) -> ImageLive | None:
        registry = self._registry
        if registry is None:
            return None
        store, owner = registry.persistence.store, registry.persistence.owner
        try:
            raw = await store.get(run_id)
            if raw is None:
                return None
            await store.claim(run_id, owner)  # from now on a stale replica's writes are refused
            run = await registry.scheduler.run(lambda: decode_run(raw), True)
        except StoreUnavailable as error:
            log.warning("digits run %s: not resumed, the store is unavailable: %s", run_id, error)
            return None
        except ModelFileError as error:
            log.warning("digits run %s: its record is refused: %s", run_id, error)
            return None
        if run_id in self._entries:  # another page resumed it meanwhile
            return None
        settings = registry.settings
        live = ImageLive(
            registry.scheduler,
            registry.playing,
            _nobody,
            run_id,
            settings.history_max_bytes,
            settings.history_recent_snapshots,
        )
        live.adopt(run)
        self._entries[run_id] = _Entry(live, written=hashlib.sha256(raw).digest())
        return live

    def release(self, live: ImageLive) -> None:
        """Its page is gone: write the run (paused by the caller) and keep it for a while."""
        entry = self._entries.get(live.id)
        if entry is None:
            return
        entry.attached, entry.detached_at = False, time.monotonic()
        entry.released.set()
        entry.expiry = asyncio.get_running_loop().call_later(self._ttl, self._expire, live.id)
        self._spawn(self._write(entry))
        detached = sorted(
            (e for e in self._entries.values() if not e.attached), key=lambda e: e.detached_at
        )
        for oldest in detached[: max(0, len(detached) - self._max_kept)]:
            self._expire(oldest.live.id)

    def _expire(self, run_id: str) -> None:
        """Out of memory (its record stays in the store)."""
        entry = self._entries.get(run_id)
        if entry is not None and not entry.attached:
            if entry.expiry is not None:
                entry.expiry.cancel()
            del self._entries[run_id]

    async def _write(self, entry: _Entry) -> None:
        registry = self._registry
        if registry is None:
            return
        raw = await entry.live.encoded()
        if raw is None:
            return
        digest = hashlib.sha256(raw).digest()
        if digest == entry.written:
            return
        persistence = registry.persistence
        try:
            kept = await persistence.store.put(entry.live.id, raw, persistence.owner)
        except StoreUnavailable as error:
            log.warning("digits run %s: not written (store unavailable): %s", entry.live.id, error)
            return
        if kept:
            entry.written = digest
        else:  # another replica resumed it: this copy is stale
            log.info("digits run %s moved to another replica", entry.live.id)

    async def _write_playing(self) -> None:
        while True:
            await asyncio.sleep(WRITE_EVERY_SECONDS)
            for entry in list(self._entries.values()):
                if entry.live.status == "running":
                    await self._write(entry)

    async def flush(self) -> None:
        """Pause every run and write it: the server is about to stop."""
        for entry in list(self._entries.values()):
            await entry.live.pause_for_exit()
            await self._write(entry)

    def announce(self, notice: ServerModel) -> None:
        """Tell every attached page (the server is stopping; its socket closes next), and
        write every run meanwhile."""
        for entry in self._entries.values():
            if entry.attached:
                self._spawn(entry.live.notify(notice))
        self._spawn(self.flush())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def get(self, run_id: str) -> ImageLive | None:
        """The run of that id kept in memory here (its page there or not), for reading."""
        entry = self._entries.get(run_id)
        return entry.live if entry is not None else None

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._entries


async def _nobody(text: str) -> None:
    """A resumed run's sender until its page attaches."""
