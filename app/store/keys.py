"""The shapes of what the store is keyed by: session ids (unguessable tokens) and shared keys."""

from __future__ import annotations

import re
import secrets

from app.store.errors import InvalidKey

# secrets.token_urlsafe(16): 22 URL-safe characters, 128 random bits; longer tokens are fine.
SESSION_ID_BYTES = 16
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22,128}")
# Rooms, results and channels: namespaced names chosen by the server, never by a page.
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def session_key(session_id: str) -> str:
    """`session_id` itself, once it is checked to be of a token's shape (so a page cannot name
    another kind of key, or a short guessable one)."""
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise InvalidKey("a session id is 22 to 128 URL-safe characters")
    return session_id


def shared_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidKey("a key or channel is 1 to 200 of A-Z a-z 0-9 _ . : -")
    return key
