"""Shared fixtures: a real uvicorn server on a free loopback port; browser tests ordered last."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import torch

from tests.support.live_server import ARTIFACTS, LiveServer

# Runs are kept in a store (SQLite under BACKPROP_DATA_DIR unless told otherwise): the tests'
# apps and servers keep theirs in a folder of this test run, never in the project's ./data.
os.environ.setdefault("BACKPROP_DATA_DIR", tempfile.mkdtemp(prefix="backprop-test-data-"))

# Tiny models on two shared cores: a second intra-op thread only adds contention.
torch.set_num_threads(1)

__all__ = ["ARTIFACTS", "LiveServer"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Sync Playwright keeps an event loop running in the main thread for the rest of the
    # session; anything async after it fails, so browser tests go last (TESTING.md).
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and isinstance(server, LiveServer):
        report.sections.append(("server log", server.log()))
