"""A TestClient of the app for protocol tests, its rate limit raised for scripted clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(max_messages_per_second=1000))) as c:
        yield c
