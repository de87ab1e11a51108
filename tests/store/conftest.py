"""Fixtures for tests against a real redis-server (skipped where it is missing, failed on CI)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh password-protected redis-server for one test (tests may stop or kill it)."""
    server = RedisServer(password=secrets.token_urlsafe(12))
    yield server
    server.close()
