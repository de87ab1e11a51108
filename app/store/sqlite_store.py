"""The embedded store: one SQLite file under the data directory, for a single server.

One connection, used only from one thread of its own: every call is handed to that thread, so
the event loop never waits on the disk. WAL mode lets a reader in while a write commits, and
`synchronous=NORMAL` keeps a commit to one write of the log (a crash of the machine may lose
the last commits, never the file). Pub/sub is in-process (local_bus.py): with SQLite there is
one server. Several processes on one file are not supported — use Redis for replicas.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from app.store.base import SessionStore, Subscription
from app.store.errors import StoreUnavailable
from app.store.keys import session_key, shared_key
from app.store.local_bus import LocalBus

T = TypeVar("T")

# Expired rows are deleted at most this often (a get never returns one, deleted or not).
PURGE_EVERY_SECONDS = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    record BLOB,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_expiry ON runs (expires_at);
CREATE TABLE IF NOT EXISTS shared (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires_at REAL
);
"""


class SqliteStore(SessionStore):
    kind = "sqlite"

    def __init__(
        self, path: Path, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        """`clock`: wall-clock seconds (expiry outlives the process, so not a monotonic one)."""
        self.path = path.resolve()
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db: sqlite3.Connection | None = None
        self._bus = LocalBus()
        self._purged_at = -PURGE_EVERY_SECONDS

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return work(self._connection())
            except (sqlite3.Error, OSError) as error:
                raise StoreUnavailable(f"sqlite {self.path}: {error}") from None

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Only ever used from self._thread; autocommit, each statement its own transaction.
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    # ---- run records -------------------------------------------------------------------------

    async def get(self, session_id: str) -> bytes | None:
        key = session_key(session_id)

        def work(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT record FROM runs WHERE id = ? AND expires_at > ?", (key, self._clock())
            ).fetchone()
            return None if row is None or row[0] is None else bytes(row[0])

        return await self._call(work)

    async def put(self, session_id: str, record: bytes, owner: str) -> bool:
        key = session_key(session_id)

        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            self._purge(db, now)
            # An expired row is nobody's: its owner no longer counts.
            cursor = db.execute(
                "INSERT INTO runs (id, record, owner, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET record = excluded.record, "
                "owner = excluded.owner, expires_at = excluded.expires_at "
                "WHERE runs.owner = excluded.owner OR runs.expires_at <= ?",
                (key, record, owner, now + self.ttl_seconds, now),
            )
            return cursor.rowcount > 0

        return await self._call(work)

    async def claim(self, session_id: str, owner: str) -> None:
        key = session_key(session_id)

        def work(db: sqlite3.Connection) -> None:
            now = self._clock()
            db.execute(
                "INSERT INTO runs (id, record, owner, expires_at) VALUES (?, NULL, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, "
                "expires_at = max(runs.expires_at, excluded.expires_at)",
                (key, owner, now + self.ttl_seconds),
            )

        await self._call(work)

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        if now - self._purged_at >= PURGE_EVERY_SECONDS:
            self._purged_at = now
            db.execute("DELETE FROM runs WHERE expires_at <= ?", (now,))
            db.execute("DELETE FROM shared WHERE expires_at <= ?", (now,))

    async def delete(self, session_id: str) -> None:
        key = session_key(session_id)
        await self._call(lambda db: db.execute("DELETE FROM runs WHERE id = ?", (key,)))

    async def touch(self, session_id: str) -> bool:
        key = session_key(session_id)

        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            cursor = db.execute(
                "UPDATE runs SET expires_at = ? "
                "WHERE id = ? AND expires_at > ? AND record IS NOT NULL",
                (now + self.ttl_seconds, key, now),
            )
            return cursor.rowcount > 0

        return await self._call(work)

    # ---- shared values and channels -----------------------------------------------------------

    async def get_value(self, key: str) -> bytes | None:
        name = shared_key(key)

        def work(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT value FROM shared WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                (name, self._clock()),
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._call(work)

    async def set_value(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        name = shared_key(key)

        def work(db: sqlite3.Connection) -> None:
            expires = None if ttl_seconds is None else self._clock() + ttl_seconds
            db.execute(
                "INSERT INTO shared (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at",
                (name, value, expires),
            )

        await self._call(work)

    async def delete_value(self, key: str) -> None:
        name = shared_key(key)
        await self._call(lambda db: db.execute("DELETE FROM shared WHERE key = ?", (name,)))

    async def publish(self, channel: str, message: bytes) -> None:
        self._bus.publish(shared_key(channel), message)

    async def subscribe(self, channel: str) -> Subscription:
        return self._bus.subscribe(shared_key(channel))

    # ---- the store itself ----------------------------------------------------------------------

    async def ping(self) -> None:
        await self._call(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def work() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._thread, work)
        self._thread.shutdown(wait=True)

    def describe(self) -> str:
        return f"sqlite://{self.path}"
