"""A class in a box: N page-like websocket clients against a running server, to size it.

`python -m bench.load --url http://127.0.0.1:8000 -n 100 --seconds 30 [--mixed] [--pid PID]`

Each learner does what a page does: opens its own run (the defaults, circle 2→[4,2]→1 tanh,
batch 10; with --mixed one of 5 shapes and one of 6 optimizers), presses Play, reads and decodes
every frame, and changes the learning rate every couple of seconds, timing how long the first
frame trained with the new rate takes to come. Prints one JSON line: per-learner visible
epochs/s (median, slowest), frames/s (median, slowest), the control latency's p95, and, given
the server's pid on this machine, its memory per session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# The mixed class: five network shapes, six optimizers (SGD with and without momentum).
SHAPES = [[4, 2], [8], [6, 6], [3], [8, 4]]
OPTIMIZERS: list[dict[str, Any]] = [
    {"optimizer": "sgd"},
    {"optimizer": "sgd", "momentum": 0.9},
    {"optimizer": "adam", "learning_rate": 0.01},
    {"optimizer": "adamw", "learning_rate": 0.01},
    {"optimizer": "rmsprop", "learning_rate": 0.01},
    {"optimizer": "adagrad"},
]
# A learner turns the rate knob about this often, and measures from this long after Play on.
CHANGE_EVERY_SECONDS = 2.0
WARM_UP_SECONDS = 2.0


@dataclass
class Learner:
    index: int
    admitted: bool = False
    refused: str | None = None
    frames: list[tuple[float, float]] = field(default_factory=list)  # (time, epoch)
    latencies: list[float] = field(default_factory=list)


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws"


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def _open_run(ws: ClientConnection, learner: Learner, mixed: bool, idle: bool) -> bool:
    await ws.send(json.dumps({"type": "hello"}))
    while (message := await _receive(ws))["type"] != "session":
        if message["type"] == "error":
            learner.refused = str(message.get("message"))
            return False
    learner.admitted = True
    if mixed:
        shape = SHAPES[learner.index % len(SHAPES)]
        await ws.send(json.dumps({"type": "configure", "model": {"hidden_layers": shape}}))
        knobs = OPTIMIZERS[(learner.index // len(SHAPES)) % len(OPTIMIZERS)]
        await ws.send(json.dumps({"type": "set", **knobs}))
    if not idle:
        await ws.send(json.dumps({"type": "control", "action": "play"}))
    return True


async def learn(url: str, learner: Learner, seconds: float, mixed: bool, idle: bool) -> None:
    """One learner's page for `seconds` after Play (`idle`: a page open, never playing)."""
    async with connect(ws_url(url), origin=url.rstrip("/"), max_size=2**24) as ws:  # type: ignore[arg-type]
        if not await _open_run(ws, learner, mixed, idle):
            return
        if idle:
            await asyncio.sleep(seconds)
            return
        started = time.monotonic()
        rates = (0.03, 0.02) if not mixed else (0.01, 0.005)
        changed_at: float | None = None
        wanted = rates[0]
        next_change = started + WARM_UP_SECONDS + random.uniform(0, CHANGE_EVERY_SECONDS)
        try:
            while (now := time.monotonic()) - started < seconds:
                if now >= next_change and changed_at is None:
                    wanted = rates[1] if wanted == rates[0] else rates[0]
                    await ws.send(json.dumps({"type": "set", "learning_rate": wanted}))
                    changed_at, next_change = now, now + CHANGE_EVERY_SECONDS
                remaining = seconds - (now - started)
                try:
                    message = await asyncio.wait_for(_receive(ws), max(0.05, remaining))
                except TimeoutError:
                    break
                if message["type"] != "frame" or message["status"] != "running":
                    continue
                arrived = time.monotonic()
                if arrived - started >= WARM_UP_SECONDS:
                    learner.frames.append((arrived, float(message["epoch"])))
                if changed_at is not None and abs(message["learning_rate"] - wanted) < 1e-12:
                    learner.latencies.append(arrived - changed_at)
                    changed_at = None
        except ConnectionClosed:
            return


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def rss_mb(pid: int) -> float:
    """A server's resident memory with all its processes (a server on every core: its workers,
    nginx and Redis)."""
    total = 0.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            children = [int(child) for child in listing.read().split()]
    except OSError:
        children = []
    for child in children:
        with contextlib.suppress(OSError):  # exited meanwhile
            total += rss_mb(child)
    return total


def summary(learners: list[Learner]) -> dict[str, Any]:
    """Per-learner figures over what each page saw after its warm-up."""
    epochs, fps = [], []
    for learner in learners:
        if not learner.admitted:
            continue
        frames = learner.frames
        span = frames[-1][0] - frames[0][0] if len(frames) > 1 else 0.0
        epochs.append((frames[-1][1] - frames[0][1]) / span if span > 0 else 0.0)
        fps.append((len(frames) - 1) / span if span > 0 else 0.0)
    latencies = [s for learner in learners for s in learner.latencies]
    p95 = percentile(latencies, 0.95)
    refused = [learner.refused for learner in learners if learner.refused]
    return {
        "learners": len(learners),
        "admitted": len(epochs),
        "turned_away": len(refused),
        "turned_away_message": refused[0] if refused else None,
        "epochs_per_s_median": statistics.median(epochs) if epochs else 0.0,
        "epochs_per_s_min": min(epochs, default=0.0),
        "epochs_per_s_total": sum(epochs),
        "fps_median": statistics.median(fps) if fps else 0.0,
        "fps_min": min(fps, default=0.0),
        "control_latency_ms_p95": None if p95 is None else 1000 * p95,
        "control_changes_seen": len(latencies),
    }


async def class_load(
    url: str,
    n: int,
    seconds: float,
    mixed: bool = False,
    pid: int | None = None,
    idle: bool = False,
) -> dict[str, Any]:
    """`n` learners for `seconds`; with the server's `pid`, its RSS before and while loaded."""
    before = rss_mb(pid) if pid is not None else None
    learners = [Learner(i) for i in range(n)]
    tasks = [asyncio.create_task(learn(url, lr, seconds, mixed, idle)) for lr in learners]
    loaded: float | None = None
    if pid is not None:
        await asyncio.sleep(seconds * 0.8)
        loaded = rss_mb(pid)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    # A learner whose page failed (refused at the handshake, a protocol error) counts as one
    # that saw nothing; the first failure is named, so a load of zeros says why.
    failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    result = {"mixed": mixed, "idle": idle, "seconds": seconds, **summary(learners)}
    result["failed"] = len(failures)
    result["first_failure"] = failures[0][:300] if failures else None
    if before is not None and loaded is not None:
        result["server_rss_mb_before"] = before
        result["server_rss_mb_loaded"] = loaded
        result["rss_mb_per_session"] = (loaded - before) / max(1, result["admitted"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-n", type=int, default=100, help="learners")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--mixed", action="store_true", help="5 shapes × 6 optimizers")
    parser.add_argument("--idle", action="store_true", help="pages open, never playing")
    parser.add_argument("--pid", type=int, help="the server's pid, to read its memory")
    a = parser.parse_args()
    result = asyncio.run(class_load(a.url, a.n, a.seconds, a.mixed, a.pid, a.idle))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
