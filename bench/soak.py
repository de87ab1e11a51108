"""`make soak`: 20 pages train, change settings and reconnect against a live server for 2 minutes.

Prints errors seen, messages sent, frames received and the server's RSS, and exits non-zero on
any error or when RSS grows by 10 % or more. RSS "start" is taken after a warm-up, once every
page trains: glibc's arenas and torch's first allocations grow it for a while, which is not a
leak (the cold figure is printed too). Not collected by pytest; `python -m bench.soak`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.protocol.helpers import strict_loads
from tests.support.live_server import LiveServer, rss_mb

CLIENTS = 20
SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
WARM_UP_SECONDS = min(20.0, SECONDS / 4)
MAX_RSS_GROWTH = 0.10
LEARNING_RATES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear"]
OPTIMIZERS = ["sgd", "adam"]
DATASETS = ["circle", "xor", "gauss", "spiral"]


@dataclass
class Tally:
    sent: int = 0
    frames: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


async def page(url: str, tally: Tally, rng: random.Random, deadline: float) -> None:
    """One student's tab: trains, turns knobs, sometimes reloads (resuming its run)."""
    session_id: str | None = None
    while time.monotonic() < deadline:
        try:
            async with connect(url, max_size=2**24) as ws:

                async def send(message: dict[str, object]) -> None:
                    await ws.send(json.dumps(message))
                    tally.sent += 1

                await send({"type": "hello", "session_id": session_id})
                await send({"type": "control", "action": "play"})
                visit_ends = time.monotonic() + rng.uniform(3, 12)
                next_change = time.monotonic() + rng.uniform(0.2, 1.5)
                while (now := time.monotonic()) < min(visit_ends, deadline):
                    try:
                        raw = await asyncio.wait_for(
                            ws.recv(), timeout=max(0.01, next_change - now)
                        )
                    except TimeoutError:
                        await send(random_change(rng))
                        next_change = time.monotonic() + rng.uniform(0.2, 1.5)
                        continue
                    message = strict_loads(str(raw))
                    if message["type"] == "session":
                        if session_id is not None and message["session_id"] != session_id:
                            tally.errors.append(f"run {session_id} was not resumed")
                        session_id = message["session_id"]
                    elif message["type"] == "frame":
                        tally.frames += 1
                    elif message["type"] == "error":
                        tally.errors.append(message["message"])
            tally.reconnects += 1
        except (ConnectionClosed, OSError) as error:
            tally.errors.append(f"{type(error).__name__}: {error}")


def random_change(rng: random.Random) -> dict[str, object]:
    kind = rng.random()
    if kind < 0.6:
        return {"type": "set"} | random_setting(rng)
    if kind < 0.8:
        return {"type": "configure", "data": {"dataset": rng.choice(DATASETS)}}
    if kind < 0.9:
        return {"type": "control", "action": rng.choice(["step", "reset"])}
    return {"type": "control", "action": "play"}


def random_setting(rng: random.Random) -> dict[str, object]:
    name = rng.choice(["learning_rate", "activation", "optimizer", "batch_size"])
    value: object = {
        "learning_rate": rng.choice(LEARNING_RATES),
        "activation": rng.choice(ACTIVATIONS),
        "optimizer": rng.choice(OPTIMIZERS),
        "batch_size": rng.randint(1, 50),
    }[name]
    return {name: value}


async def soak(server: LiveServer) -> int:
    url = server.url.replace("http://", "ws://") + "/ws"
    tally = Tally()
    pid = server.process.pid
    rss_cold = rss_mb(pid)
    started = time.monotonic()
    deadline = started + SECONDS
    rng = random.Random(8)
    pages = [
        asyncio.create_task(page(url, tally, random.Random(rng.random()), deadline))
        for _ in range(CLIENTS)
    ]
    await asyncio.sleep(WARM_UP_SECONDS)
    rss_start = rss_mb(pid)
    await asyncio.gather(*pages)
    rss_end = rss_mb(pid)
    growth = (rss_end - rss_start) / rss_start
    report = {
        "clients": CLIENTS,
        "seconds": round(time.monotonic() - started, 1),
        "errors_seen": len(tally.errors),
        "messages_sent": tally.sent,
        "frames_received": tally.frames,
        "reconnects": tally.reconnects,
        "rss_cold_mb": round(rss_cold, 1),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_percent": round(100 * growth, 1),
    }
    for name, value in report.items():
        print(json.dumps({"name": f"soak_{name}", "value": value}), flush=True)
    for error in sorted(set(tally.errors))[:20]:
        print(f"error: {error}", file=sys.stderr)
    return 0 if not tally.errors and growth < MAX_RSS_GROWTH else 1


def main() -> int:
    # Abandoned runs (a tab that started afresh) expire well within the soak.
    server = LiveServer({"BACKPROP_SESSION_TTL_SECONDS": "20"})
    try:
        return asyncio.run(soak(server))
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
