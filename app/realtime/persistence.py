"""Runs kept in the store: written behind training, resumed when a page returns, flushed on exit.

The registry holds the runs pages are attached to; this is where they outlive the process. One
owner id per process names this replica in the store, so a run another replica resumed is
never overwritten by this one's stale copy (app/store/writer.py).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from app.realtime.rate_limit import TokenBucket
from app.realtime.scheduler import EngineScheduler
from app.realtime.session import LiveSession
from app.settings import Settings
from app.store.base import SessionStore
from app.store.errors import InvalidKey, StoreUnavailable
from app.store.factory import open_store
from app.store.keys import session_key
from app.store.resume import resume_from_store
from app.store.snapshot import JsonValue
from app.store.writer import WriteBehind
from app.training.session import TrainingSession

log = logging.getLogger(__name__)

# Addresses remembered for the new-session limit; the oldest go first past this many (a
# flood of spoofed addresses cannot grow memory without bound).
MAX_TRACKED_ADDRESSES = 10_000


def valid_session_id(session_id: str | None) -> str | None:
    """`session_id` if it has the shape of an unguessable token, else None."""
    if session_id is None:
        return None
    try:
        return session_key(session_id)
    except InvalidKey:
        return None


@dataclass(frozen=True)
class Restored:
    """A run read back from the store (`engine` with the live session's `knobs`), or why not:
    `notice` is what the page is told when it starts afresh instead (None: nothing stored)."""

    engine: TrainingSession | None = None
    knobs: dict[str, JsonValue] | None = None
    notice: str | None = None


class NewSessionLimit:
    """New runs per client address: a burst of `burst`, then one every `refill_seconds`."""

    def __init__(self, burst: int, refill_seconds: float) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, address: str) -> bool:
        bucket = self._buckets.pop(address, None)
        if bucket is None:
            bucket = TokenBucket(1.0 / self.refill_seconds, float(self.burst))
            if len(self._buckets) >= MAX_TRACKED_ADDRESSES:
                del self._buckets[next(iter(self._buckets))]
        self._buckets[address] = bucket  # most recently seen last
        return bucket.allow()

    def refusal(self) -> str:
        return (
            f"too many new runs from your address: at most {self.burst} at once, then one "
            f"every {self.refill_seconds:g} s; try again in a minute"
        )


class Persistence:
    """The store, its writer and the thread that decodes records, for one server process."""

    def __init__(self, settings: Settings, on_lost: Callable[[str], None]) -> None:
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.store: SessionStore = open_store(
            settings.store_url, settings.data_dir, settings.store_ttl_seconds
        )
        self.writer = WriteBehind(
            self.store,
            self.owner,
            on_lost,
            settings.store_write_interval_seconds,
            settings.max_record_bytes,
            max_writes_per_second=settings.store_max_writes_per_second,
        )
        self.max_record_bytes = settings.max_record_bytes
        self._decoder = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="store-reader",
            initializer=torch.set_num_threads,
            initargs=(1,),
        )

    def start(self) -> None:
        log.info("runs are kept in %s (this replica: %s)", self.store.describe(), self.owner)
        self.writer.start()
        # Its thread now rather than at the first resume: a count of threads stays level.
        self._decoder.submit(lambda: None)

    def changed(self, session: LiveSession) -> None:
        """`session` moved on (a burst, a command): it is written within the write interval."""
        self.writer.changed(session.id, session.capture)

    async def resume(self, session_id: str, scheduler: EngineScheduler) -> Restored:
        """The run stored under `session_id`, or why the page starts afresh."""
        try:
            resumed = await resume_from_store(
                self.store,
                session_id,
                self.owner,
                self._decoder,
                lambda build: scheduler.run(build, True),
                max_bytes=self.max_record_bytes,
            )
        except StoreUnavailable as error:
            log.warning("session %s: not resumed, the store is unavailable: %s", session_id, error)
            return Restored(
                notice="The run could not be resumed (store unavailable): a new one starts "
                "with your settings."
            )
        if resumed.session is not None and resumed.snapshot is not None:
            return Restored(resumed.session, resumed.snapshot.live)
        if resumed.refused is not None:
            return Restored(
                notice=f"The stored run could not be used ({resumed.refused}): a new one "
                "starts with your settings."
            )
        return Restored()

    async def evict(self, session_id: str) -> bool:
        """Written now if it changed: whether the store holds its latest state (so its memory
        may go; it resumes from the store when its page returns)."""
        return await self.writer.write(session_id)

    async def discard(self, session_id: str) -> None:
        """The run is gone for good (its page left it for another): neither kept nor written."""
        self.writer.forget(session_id)
        try:
            await self.store.delete(session_id)
        except StoreUnavailable as error:
            log.warning("session %s: not deleted from the store: %s", session_id, error)

    def health(self) -> dict[str, object]:
        health = self.writer.health()
        return {
            "status": health.status,
            "reason": health.reason,
            "pending": health.pending,
            "store": self.store.describe(),
        }

    async def stop(self) -> None:
        """Every pending change written (the play loops are paused by then), then closed."""
        report = await self.writer.stop()
        if report.unwritten:
            log.error(
                "%d runs could not be written on exit (%s): %s",
                len(report.unwritten),
                report.reason,
                ", ".join(report.unwritten),
            )
        else:
            log.info("%d runs written to the store on exit", report.written)
        await self.store.close()
        self._decoder.shutdown(wait=True)
