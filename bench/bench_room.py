"""A full room: as many page-like students as a room holds, training on one server, and the
teacher's view of them (bench/room_load.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from app.room.book import MAX_ROOM_SIZE
from bench.bench_class import figure
from bench.room_load import run_class
from tests.support.live_server import LiveServer


def run() -> Iterator[dict[str, Any]]:
    # Every student's run, the teacher's socket and room for a page or two besides.
    server = LiveServer({"BACKPROP_MAX_SESSIONS": str(MAX_ROOM_SIZE + 10)})
    try:
        figures = asyncio.run(run_class(server.url, MAX_ROOM_SIZE))
    finally:
        server.stop()
    prefix = f"room{MAX_ROOM_SIZE}"
    detail = {"students": MAX_ROOM_SIZE}
    yield figure(f"{prefix}_min_tile_refreshes_per_s", figures.slowest_tile_rate, "1/s", detail)
    yield figure(f"{prefix}_longest_tile_gap_s", figures.longest_tile_gap, "s", {})
    yield figure(f"{prefix}_lesson_on_every_page_s", figures.lesson_reached, "s", {})
    yield figure(f"{prefix}_lesson_in_force_on_every_run_s", figures.lesson_in_force, "s", {})
