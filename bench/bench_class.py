"""A class of learners on one server: bench/load.py's page-like clients against a live server.

Figures: the slowest learner's visible epochs/s with 20 and with 100 learners at the defaults,
and with 100 spread over 5 shapes and 6 optimizers; the slowest learner's frames/s and the
control latency's p95 with 100; the server's memory per playing session. Each figure comes
from its own fresh server, so one load's sessions do not weigh on the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from bench.load import class_load
from tests.support.live_server import LiveServer

SECONDS = 15.0


def load(n: int, mixed: bool = False, idle: bool = False) -> dict[str, Any]:
    server = LiveServer({"BACKPROP_MAX_SESSIONS": str(max(n, 100))})
    try:
        pid = server.process.pid
        return asyncio.run(class_load(server.url, n, SECONDS, mixed, pid, idle))
    finally:
        server.stop()


def figure(name: str, value: float, unit: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "value": round(value, 3), "unit": unit, "detail": detail}


def run() -> Iterator[dict[str, Any]]:
    class20 = load(20)
    yield figure("class20_min_epochs_per_s", class20["epochs_per_s_min"], "epochs/s", class20)
    class100 = load(100)
    yield figure("class100_min_epochs_per_s", class100["epochs_per_s_min"], "epochs/s", class100)
    yield figure("class100_min_fps", class100["fps_min"], "frames/s", {})
    latency = class100["control_latency_ms_p95"]
    yield figure("class100_control_latency_ms_p95", latency or float("inf"), "ms", {})
    yield figure("class100_session_rss_mb", class100.get("rss_mb_per_session", 0.0), "MB", {})
    idle = load(100, idle=True)
    yield figure("class100_idle_session_rss_mb", idle.get("rss_mb_per_session", 0.0), "MB", {})
    mixed = load(100, mixed=True)
    yield figure("class100_mixed_min_epochs_per_s", mixed["epochs_per_s_min"], "epochs/s", mixed)
