"""Write-behind: changed runs go to the store at most every few seconds, all of them on flush().

The caller says "this session changed" (cheap, from the event loop) and hands over a coroutine
that captures the run on the engine's thread (take_snapshot between two bursts). The writer
encodes on a thread of its own and awaits the store, so the event loop never waits on either.
Writes are serialised: a later write always holds a later capture.

Writes are also paced: at most `max_writes_per_second` in all, oldest first. Encoding a run
costs a few milliseconds and holds the GIL for part of it; a class of 100 playing runs at one
write each per 2 s took a fifth of a core from training. Paced, each of N changing runs is
written every max(interval, N / rate) seconds.

When the store fails, the writer is `degraded` with the reason, keeps every change pending and
tries again after a backoff (1 s, 2 s, … up to 30 s); the first write that succeeds ends the
degraded state and the pending runs catch up at the pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import torch

from app.store.base import SessionStore
from app.store.errors import RecordError, StoreUnavailable
from app.store.records import DEFAULT_MAX_RECORD_BYTES, RecordEncoder
from app.store.snapshot import RunSnapshot

log = logging.getLogger(__name__)

Capture = Callable[[], Awaitable[RunSnapshot]]
DEFAULT_WRITE_INTERVAL_SECONDS = 2.0
DEFAULT_MAX_WRITES_PER_SECOND = 10.0
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


@dataclass
class _Run:
    capture: Capture
    encoder: RecordEncoder
    dirty: bool = True
    written_at: float | None = None
    # The last write's record was refused (over its bound): the store holds an older state.
    refused: bool = False


def _waiting_since(run: _Run) -> float:
    return -float("inf") if run.written_at is None else run.written_at


@dataclass(frozen=True)
class WriterHealth:
    status: Literal["ok", "degraded"]
    reason: str | None
    pending: int


@dataclass
class FlushReport:
    written: int = 0
    # Sessions whose latest state is not in the store (the store failed, or a record was bad).
    unwritten: list[str] = field(default_factory=list)
    reason: str | None = None


class WriteBehind:
    def __init__(
        self,
        store: SessionStore,
        owner: str,
        on_lost: Callable[[str], None] = lambda session_id: None,
        interval_seconds: float = DEFAULT_WRITE_INTERVAL_SECONDS,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        clock: Callable[[], float] = time.monotonic,
        max_writes_per_second: float = DEFAULT_MAX_WRITES_PER_SECOND,
    ) -> None:
        """`owner`: this replica's id in the store. `on_lost(session_id)`: another replica
        claimed that run (its page reconnected there); this one should drop its copy."""
        self.store = store
        self.owner = owner
        self._on_lost = on_lost
        self.interval = interval_seconds
        self.max_record_bytes = max_record_bytes
        self._clock = clock
        self._write_spacing = 1.0 / max_writes_per_second
        self._paced_until = -float("inf")
        self._runs: dict[str, _Run] = {}
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._thread = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="store-writer",
            initializer=torch.set_num_threads,
            initargs=(1,),
        )
        self.reason: str | None = None
        self._retry_at = 0.0
        self._backoff = FIRST_RETRY_SECONDS
        self._task: asyncio.Task[None] | None = None
        # Ends the loop even when a cancellation is lost: Python 3.11's wait_for returns
        # instead of raising if the event fired as the cancellation came (a change made
        # just before stop()).
        self._stopping = False

    # ---- what the registry calls -----------------------------------------------------------------

    def changed(self, session_id: str, capture: Capture) -> None:
        """`session_id` changed; `capture` takes its snapshot on the engine's thread. Called on
        the event loop."""
        run = self._runs.get(session_id)
        if run is None:
            self._runs[session_id] = _Run(capture, RecordEncoder(self.max_record_bytes))
            self._wakeup.set()
        else:
            run.capture = capture
            if not run.dirty:
                run.dirty = True
                self._wakeup.set()

    def forget(self, session_id: str) -> None:
        """No more writes for `session_id` (its run was deleted, or it is gone for good)."""
        self._runs.pop(session_id, None)

    def health(self) -> WriterHealth:
        pending = sum(run.dirty for run in self._runs.values())
        if self.reason is not None:
            return WriterHealth("degraded", self.reason, pending)
        return WriterHealth("ok", None, pending)

    async def write(self, session_id: str) -> bool:
        """Now, if it has unwritten changes (before evicting it from memory): whether the store
        holds its latest state."""
        run = self._runs.get(session_id)
        if run is None:
            return False
        if run.dirty:
            await self._write(session_id, run)
        return (
            self._runs.get(session_id) is run
            and not run.dirty
            and not run.refused
            and run.written_at is not None
        )

    async def flush(self) -> FlushReport:
        """Every pending change now, whatever the interval or backoff (on SIGTERM, once the
        runs are paused). Stops at the first store failure: the rest would fail alike."""
        report = FlushReport()
        for session_id, run in list(self._runs.items()):
            if not run.dirty:
                continue
            if report.reason is None and await self._write(session_id, run):
                report.written += 1
                continue
            if self._runs.get(session_id) is not run:
                continue  # claimed by another replica meanwhile, or no longer capturable
            report.unwritten.append(session_id)
            report.reason = report.reason or self.reason
        return report

    # ---- the loop --------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When the next write is due (a clock time), None with nothing pending."""
        times = [self._due_at(run) for run in self._runs.values() if run.dirty]
        return max(min(times), self._paced_until) if times else None

    def _due_at(self, run: _Run) -> float:
        own = -float("inf") if run.written_at is None else run.written_at + self.interval
        return max(own, self._retry_at)

    async def write_due(self) -> int:
        """Writes the runs whose time has come, as the pace allows, the longest waiting first
        (never written, then the oldest write); how many were written."""
        due = [
            (session_id, run)
            for session_id, run in self._runs.items()
            if run.dirty and self._due_at(run) <= self._clock()
        ]
        due.sort(key=lambda item: _waiting_since(item[1]))
        written = 0
        for session_id, run in due:
            if self._clock() < self._paced_until:
                break
            started = self._clock()
            if await self._write(session_id, run):
                written += 1
                self._paced_until = started + self._write_spacing
            elif self.reason is not None:
                break  # the store failed: everything waits for the retry
        return written

    async def run_forever(self) -> None:
        while not self._stopping:
            due = self.next_due()
            timeout = None if due is None else max(0.0, due - self._clock())
            self._wakeup.clear()
            if timeout is None or timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
            try:
                await self.write_due()
            except Exception:
                log.exception("writing runs to the store failed")

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="store-writer")

    async def stop(self) -> FlushReport:
        """Stop the loop and flush what is pending."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        report = await self.flush()
        self._thread.shutdown(wait=True)
        return report

    # ---- one write -------------------------------------------------------------------------------

    async def _write(self, session_id: str, run: _Run) -> bool:
        async with self._lock:
            if self._runs.get(session_id) is not run:
                return False  # forgotten meanwhile
            run.dirty = False  # a change from here on makes it dirty again
            try:
                snapshot = await run.capture()
                record = await asyncio.get_running_loop().run_in_executor(
                    self._thread, run.encoder.encode, snapshot
                )
            except RecordError as error:
                log.error("session %s: its run cannot be stored: %s", session_id, error)
                run.refused = True
                return False
            except Exception:
                log.exception("session %s: capturing its run failed; no longer written", session_id)
                self._runs.pop(session_id, None)
                return False
            try:
                stored = await self.store.put(session_id, record, self.owner)
            except Exception as error:
                run.dirty = True
                self._failed(error)
                return False
            self._recovered()
            if not stored:
                log.info("session %s: another replica runs it now; this copy stops", session_id)
                self._runs.pop(session_id, None)
                self._on_lost(session_id)
                return False
            run.written_at = self._clock()
            run.refused = False
            return True

    def _failed(self, error: Exception) -> None:
        if not isinstance(error, StoreUnavailable):
            log.exception("the store failed unexpectedly", exc_info=error)
        reason = str(error) or type(error).__name__
        if self.reason is None:
            log.warning("store degraded: %s; runs stay in memory and are retried", reason)
        self.reason = reason
        self._retry_at = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_RETRY_SECONDS)

    def _recovered(self) -> None:
        if self.reason is not None:
            log.warning("store back (%s): catching up", self.store.describe())
        self.reason = None
        self._retry_at = 0.0
        self._backoff = FIRST_RETRY_SECONDS
