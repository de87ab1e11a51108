"""A class in one room on a running server: page-like students training, the teacher's view.

Each student joins the room over HTTP, opens its socket like the join page, presses Play and
reads everything its page would; the teacher's socket gathers the tiles. `run_class` measures
how often each student's tile refreshed at the teacher and how long a pushed lesson took to
reach every page and to be in force on every run. Used by tests/protocol/test_room_scale.py
(40 students) and bench/bench_room.py (a full room).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as async_connect

WINDOW_SECONDS = 5.0
# Generous waits for a loaded machine: correctness, not speed, decides when they run out.
WAIT_SECONDS = 60.0


@dataclass
class ClassFigures:
    slowest_tile_rate: float  # refreshes a second of the tile refreshed least often
    longest_tile_gap: float  # seconds between two refreshes of one tile, at most
    lesson_reached: float  # seconds from the push to the lesson shown on every page
    lesson_in_force: float  # seconds from the push to every run rebuilt with it


async def enter(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": "hello"}))
    await ws.send(json.dumps(message))


class Student:
    """Reads everything its page would (frames unparsed: a page draws, this only counts)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames = 0
        self.lesson_at: float | None = None
        self.settings_at: float | None = None

    async def read(self) -> None:
        async for text in self.ws:
            assert isinstance(text, str)
            if text.startswith('{"type":"frame"'):
                self.frames += 1
            elif text.startswith('{"type":"room_state"'):
                state = json.loads(text)
                if state["lesson"] and self.lesson_at is None:
                    self.lesson_at = time.monotonic()
            elif text.startswith('{"type":"settings"') and self.settings_at is None:
                self.settings_at = time.monotonic()


async def gather_tiles(ws: ClientConnection, seen: dict[str, list[float]]) -> None:
    async for text in ws:
        assert isinstance(text, str)
        if text.startswith('{"type":"class_tiles"'):
            now = time.monotonic()
            for tile in json.loads(text)["tiles"]:
                if tile["connected"]:
                    seen[tile["student"]].append(now)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT_SECONDS} s for {what}"
        await asyncio.sleep(0.05)


def tile_rates(seen: dict[str, list[float]], started: float, ended: float) -> tuple[float, float]:
    """The slowest tile's refreshes a second and the longest gap of any tile in the window."""
    rates, gaps = [], []
    for times in seen.values():
        inside = [t for t in times if started <= t <= ended]
        rates.append(len(inside) / (ended - started))
        edges = [started, *inside, ended]
        gaps.append(max(b - a for a, b in zip(edges, edges[1:], strict=False)))
    return min(rates), max(gaps)


async def run_class(url: str, students: int) -> ClassFigures:
    http = httpx.AsyncClient(base_url=url, timeout=30)
    room = (await http.post("/api/rooms")).json()
    code = room["code"]
    tokens = [
        (await http.post("/api/rooms/join", json={"code": code, "name": f"Student {i}"})).json()
        for i in range(students)
    ]
    ws_url = url.replace("http", "ws") + "/ws"
    seen: defaultdict[str, list[float]] = defaultdict(list)
    teacher = await async_connect(ws_url, max_size=None)
    await enter(teacher, {"type": "room_teach", "code": code, "secret": room["secret"]})
    tasks = [asyncio.create_task(gather_tiles(teacher, seen))]
    pages = []
    for token in tokens:
        ws = await async_connect(ws_url, max_size=None)
        await enter(ws, {"type": "room_join", "code": code, "token": token["token"]})
        await ws.send(json.dumps({"type": "control", "action": "play"}))
        page = Student(ws)
        pages.append(page)
        tasks.append(asyncio.create_task(page.read()))
    try:
        await until(lambda: len(seen) == students, "a tile of every student")
        await until(lambda: all(p.frames > 10 for p in pages), "every student training")
        started = time.monotonic()
        await asyncio.sleep(WINDOW_SECONDS)
        slowest, longest = tile_rates(seen, started, time.monotonic())

        pushed = time.monotonic()
        lesson = {"data": {"dataset": "xor"}, "model": {"hidden_layers": [3]}}
        await teacher.send(json.dumps({"type": "room_push", "config": lesson}))
        await until(lambda: all(p.lesson_at is not None for p in pages), "the lesson")
        reached = max(p.lesson_at or 0.0 for p in pages) - pushed
        await until(lambda: all(p.settings_at is not None for p in pages), "the rebuilds")
        in_force = max(p.settings_at or 0.0 for p in pages) - pushed
        return ClassFigures(slowest, longest, reached, in_force)
    finally:
        for task in tasks:
            task.cancel()
        for page in pages:
            await page.ws.close()
        await teacher.close()
        await http.aclose()
