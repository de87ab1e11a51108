"""Resuming a run from the store: fetched on the loop, decoded and rebuilt off it, or refused.

A record that cannot be trusted (corrupt, truncated, oversized, foreign, another version, or
parts that do not fit together) is refused with a log line naming the session and the reason;
the caller starts that page afresh with a notice, and nothing else is affected. A store that
does not answer raises StoreUnavailable: the caller decides (start afresh, say why).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from app.store.base import SessionStore
from app.store.errors import RecordError
from app.store.records import DEFAULT_MAX_RECORD_BYTES, decode_run
from app.store.snapshot import RunSnapshot, resume_session
from app.training.history import Timeline
from app.training.session import TrainingSession

log = logging.getLogger(__name__)
T = TypeVar("T")
# Runs a function on the engine's thread (the registry's scheduler) and awaits its result.
OnEngine = Callable[[Callable[[], T]], Awaitable[T]]


@dataclass(frozen=True)
class Resumed:
    """`session` (with `snapshot.live`, the live session's own knobs), or None: with
    `refused` saying why a stored record was not used, else there was none."""

    session: TrainingSession | None
    snapshot: RunSnapshot | None = None
    refused: str | None = None


async def resume_from_store(
    store: SessionStore,
    session_id: str,
    owner: str,
    decode_on: Executor,
    on_engine: OnEngine[TrainingSession],
    new_timeline: Callable[[], Timeline] = Timeline,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Resumed:
    """The run stored under `session_id`, claimed for `owner` (this replica: from now on the
    replica that ran it before can no longer overwrite it), rebuilt exactly where it was.
    `decode_on`: a thread for the decoding (~0.1 s for a default run with its history);
    `on_engine`: how to run the rebuild on the engine's thread; `new_timeline`: a Timeline
    with the server's limits."""
    await store.claim(session_id, owner)
    raw = await store.get(session_id)
    if raw is None:
        return Resumed(None)
    try:
        snapshot = await asyncio.get_running_loop().run_in_executor(
            decode_on, decode_run, raw, max_bytes
        )
        session = await on_engine(lambda: resume_session(snapshot, new_timeline()))
    except RecordError as error:
        log.warning(
            "session %s: its stored run is refused (%s): %s", session_id, error.reason, error
        )
        return Resumed(None, refused=str(error))
    return Resumed(session, snapshot)
