"""A class of 100 on one machine served by one replica per core: nginx in front, Redis behind.

One server process trains on about one core (Python's interpreter lock: see scheduler.py). The
scaled deployment (compose.scale.yaml, deploy/README.md) runs on one machine too: one replica
per core, each training its share of the class, nginx spreading new pages and Redis holding the
runs. These figures are bench_class.py's for 100 learners, through that stack, with one replica
per core of this machine (the load generator still shares the cores).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

from bench.bench_class import SECONDS, figure
from bench.load import class_load
from tests.support.live_server import LiveServer, free_port
from tests.support.nginx_server import NginxServer
from tests.support.redis_server import RedisServer


def replicas_load(n: int, replicas: int, mixed: bool = False) -> dict[str, Any]:
    redis = RedisServer()
    servers: list[LiveServer] = []
    nginx: NginxServer | None = None
    try:
        port = free_port()
        environment = {
            "BACKPROP_STORE_URL": redis.url,
            "BACKPROP_MAX_SESSIONS": str(n),
            # The pages' origin has nginx's port, the Host nginx passes on has none.
            "BACKPROP_ALLOWED_ORIGINS": json.dumps([f"http://127.0.0.1:{port}"]),
        }
        servers = [LiveServer(environment) for _ in range(replicas)]
        nginx = NginxServer([s.port for s in servers], port)
        return asyncio.run(class_load(nginx.url, n, SECONDS, mixed))
    finally:
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.stop()
        redis.stop()


def run() -> Iterator[dict[str, Any]]:
    replicas = os.cpu_count() or 1
    prefix = f"class100_{replicas}_replicas"
    default = replicas_load(100, replicas)
    detail = {"replicas": replicas, **default}
    yield figure(f"{prefix}_min_epochs_per_s", default["epochs_per_s_min"], "epochs/s", detail)
    yield figure(f"{prefix}_min_fps", default["fps_min"], "frames/s", {})
    latency = default["control_latency_ms_p95"] or float("inf")
    yield figure(f"{prefix}_control_latency_ms_p95", latency, "ms", {})
    mixed = replicas_load(100, replicas, mixed=True)
    mixed_detail = {"replicas": replicas, **mixed}
    yield figure(
        f"{prefix}_mixed_min_epochs_per_s", mixed["epochs_per_s_min"], "epochs/s", mixed_detail
    )
