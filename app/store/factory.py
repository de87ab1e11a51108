"""The store a URL names: SQLite by default (a file under the data directory), else Redis."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from app.store.base import SessionStore
from app.store.redis_store import RedisStore, redacted
from app.store.sqlite_store import SqliteStore

DEFAULT_FILE = "sessions.sqlite3"
REDIS_SCHEMES = ("redis", "rediss", "unix")


def open_store(url: str | None, data_dir: Path, ttl_seconds: float) -> SessionStore:
    """`url`: None or "" for `data_dir`/sessions.sqlite3; `sqlite:///absolute/path.db`;
    `redis://[:password@]host:port/db`, `rediss://…` (TLS) or `unix:///path.sock`.
    Nothing is connected yet: the first call does that (and may raise StoreUnavailable)."""
    if not url:
        return SqliteStore(data_dir / DEFAULT_FILE, ttl_seconds)
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = urlsplit(url).path
        if not path.startswith("/") or path == "/":
            raise ValueError("a SQLite store URL names an absolute file: sqlite:///path/to/file")
        return SqliteStore(Path(path), ttl_seconds)
    if scheme in REDIS_SCHEMES:
        return RedisStore(url, ttl_seconds)
    raise ValueError(
        f"unknown store URL {redacted(url)!r}: use sqlite:///path, redis://… or rediss://…"
    )
