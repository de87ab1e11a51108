"""A class of learners on one server: bench/load.py's page-like clients against a live server.

Figures: the slowest learner's visible epochs/s with 20 and with 100 learners at the defaults,
and with 100 spread over 5 shapes and 6 optimizers; the slowest learner's frames/s and the
control latency's p95 with 100; the server's memory per playing and per idle session (all its
processes). The server is the Docker image's: `BACKPROP_WORKERS=auto`, one worker per core
behind nginx with its own Redis (app/cluster/), one process where nginx or Redis is missing
(the detail's `workers` says which). The `*_one_process` figures are one process
(`BACKPROP_WORKERS=1`, `make run`'s default) on the same machine. Each figure comes from its own
fresh server, so one load's sessions do not weigh on the next.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from typing import Any

from bench.load import class_load
from tests.support.live_server import LiveServer

SECONDS = 15.0


def load(n: int, mixed: bool = False, idle: bool = False, workers: str = "auto") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-class-") as data_dir:
        environment = {
            "BACKPROP_MAX_SESSIONS": str(max(n, 100)),
            "BACKPROP_WORKERS": workers,
            "BACKPROP_DATA_DIR": data_dir,
        }
        server = LiveServer(environment)
        try:
            pid = server.process.pid
            result = asyncio.run(class_load(server.url, n, SECONDS, mixed, pid, idle))
            return {"workers": worker_count(pid), **result}
        finally:
            server.stop()


def worker_count(pid: int) -> int:
    """The server's app processes: its workers, or itself alone."""
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        children = listing.read().split()
    workers = 0
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as cmdline:
            workers += b"--uds" in cmdline.read()
    return workers or 1


def figure(name: str, value: float, unit: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "value": round(value, 3), "unit": unit, "detail": detail}


def class_figures(suffix: str, workers: str) -> Iterator[dict[str, Any]]:
    class20 = load(20, workers=workers)
    epochs = class20["epochs_per_s_min"]
    yield figure(f"class20_min_epochs_per_s{suffix}", epochs, "epochs/s", class20)
    class100 = load(100, workers=workers)
    yield figure(
        f"class100_min_epochs_per_s{suffix}", class100["epochs_per_s_min"], "epochs/s", class100
    )
    yield figure(f"class100_min_fps{suffix}", class100["fps_min"], "frames/s", {})
    latency = class100["control_latency_ms_p95"] or float("inf")
    yield figure(f"class100_control_latency_ms_p95{suffix}", latency, "ms", {})
    memory = class100.get("rss_mb_per_session", 0.0)
    yield figure(f"class100_session_rss_mb{suffix}", memory, "MB", {})
    idle = load(100, idle=True, workers=workers)
    idle_memory = idle.get("rss_mb_per_session", 0.0)
    yield figure(f"class100_idle_session_rss_mb{suffix}", idle_memory, "MB", {})
    mixed = load(100, mixed=True, workers=workers)
    yield figure(
        f"class100_mixed_min_epochs_per_s{suffix}", mixed["epochs_per_s_min"], "epochs/s", mixed
    )


def run() -> Iterator[dict[str, Any]]:
    yield from class_figures("", "auto")
    yield from class_figures("_one_process", "1")
