"""No one locks out the class: memory is a cache of the store, so only watched runs count
against the server's capacity, and new runs per client address are limited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.store.keys import new_session_id
from tests.store.pages import Page, health, wait_until
from tests.support.live_server import LiveServer

CAPACITY = 6


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(
        {
            "BACKPROP_DATA_DIR": str(tmp_path),
            "BACKPROP_MAX_SESSIONS": str(CAPACITY),
            "BACKPROP_NEW_SESSIONS_PER_ADDRESS": "40",
        }
    )
    yield server
    server.stop()


def test_after_a_flood_a_new_visitor_is_admitted_and_every_flooded_run_resumes(
    small_server: LiveServer,
) -> None:
    flood = [Page(small_server.url, new_session_id()) for _ in range(CAPACITY)]
    for page in flood:
        page.hello()
        page.send({"type": "control", "action": "step"})
        page.frame_at_least(1)
    refused = Page(small_server.url, new_session_id())
    refused.send({"type": "hello", "session_id": refused.session_id})
    assert "server busy" in refused.receive("error")["message"]
    assert httpx.get(f"{small_server.url}/readyz").status_code == 503

    for page in flood[: CAPACITY // 2]:
        page.close()
    wait_until(lambda: health(small_server.url)["attached"] == CAPACITY // 2, "pages to leave")
    assert httpx.get(f"{small_server.url}/readyz").status_code == 200
    visitors = [Page(small_server.url, new_session_id()) for _ in range(CAPACITY // 2)]
    for visitor in visitors:
        assert visitor.hello()["resumed"] is False  # admitted: a flooded run made room
    assert health(small_server.url)["sessions"] == CAPACITY

    for visitor in visitors:
        visitor.close()
    wait_until(lambda: health(small_server.url)["attached"] == CAPACITY // 2, "visitors to leave")
    for page in flood[: CAPACITY // 2]:
        back = Page(small_server.url, page.session_id)
        info = back.hello()
        assert (info["resumed"], info["resumed_step"]) == (True, 1)


def test_new_runs_from_one_address_are_limited_but_others_and_returning_runs_are_not(
    tmp_path: Path,
) -> None:
    limit = {
        "BACKPROP_NEW_SESSIONS_PER_ADDRESS": "3",
        "BACKPROP_NEW_SESSION_REFILL_SECONDS": "3600",
    }
    server = LiveServer({"BACKPROP_DATA_DIR": str(tmp_path), **limit})
    try:
        pages = [Page(server.url, new_session_id()) for _ in range(3)]
        for page in pages:
            page.hello()
        one_more = Page(server.url, new_session_id())
        one_more.send({"type": "hello", "session_id": one_more.session_id})
        assert "too many new runs from your address" in one_more.receive("error")["message"]
        # A page coming back to its run is not a new run.
        pages[0].close()
        assert Page(server.url, pages[0].session_id).hello()["resumed"] is True
        # Another address (another school) is not held up.
        elsewhere = Page(server.url, new_session_id(), source_address="127.0.0.2")
        assert elsewhere.hello()["resumed"] is False
    finally:
        server.stop()
