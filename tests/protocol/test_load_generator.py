"""bench/load.py, the class in a box that sizes a server: its figures come from pages that
really trained, and a load whose pages all failed says why instead of printing zeros."""

from __future__ import annotations

import asyncio

from bench.load import class_load
from tests.support.live_server import LiveServer, free_port


def test_page_like_learners_report_what_they_saw() -> None:
    # A server of its own: the learners' runs play on after their pages leave, and on the
    # shared server they would train beside (and in groups with) later tests' runs.
    server = LiveServer()
    try:
        result = asyncio.run(class_load(server.url, 2, 5.0, pid=server.process.pid))
    finally:
        server.stop()
    assert result["admitted"] == 2 and result["failed"] == 0
    assert result["epochs_per_s_min"] > 0 and result["fps_min"] > 0
    assert result["epochs_per_s_total"] >= 2 * result["epochs_per_s_min"]
    assert result["server_rss_mb_loaded"] > 0


def test_a_load_against_no_server_names_the_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = asyncio.run(class_load(url, 3, 1.0))
    assert result["admitted"] == 0 and result["failed"] == 3
    assert "ConnectionRefusedError" in result["first_failure"]
