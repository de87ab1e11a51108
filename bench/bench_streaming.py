"""Streaming figures against a real uvicorn: overhead vs a bare loop, control latency, encoding,
and 20 concurrent sessions (frames/s, latency, fairness, memory per session)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch
from websockets.asyncio.client import ClientConnection, connect

from app.realtime.frames import step_frame
from app.training.config import LabConfig, ModelConfig
from app.training.lean_step import clear_gradients, optimizer_step
from app.training.session import TrainingSession
from tests.support.live_server import LiveServer, rss_mb

# The machine's speed drifts by a third within a minute here: the ratio alternates short bare
# and streamed rounds so both see the same drift, and sums each side.
RATIO_ROUNDS = 4
ROUND_SECONDS = 1.5
LATENCY_SECONDS = 4.0
SESSIONS = 20
WARM_UP_SECONDS = 1.0
SESSIONS_SECONDS = 10.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bare_steps_per_second(seconds: float, lean: bool = False) -> float:
    """The baseline: the tutorial's loop written by hand in plain torch on Playground's default
    (2→[4,2]→1 tanh, SGD 0.03, batches of 10 from 250 points), one thread, no server.

    `lean`: with the engine's zero_grad/step (app/training/lean_step.py) in place of the public
    calls, so the streaming's own cost shows apart from the engine's leaner step."""
    default = TrainingSession(LabConfig())
    x, y = default.data.train_x, default.data.train_y
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 4),
        torch.nn.Tanh(),
        torch.nn.Linear(4, 2),
        torch.nn.Tanh(),
        torch.nn.Linear(2, 1),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = torch.randperm(len(x))
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for start in range(0, len(x), 10):
            batch = order[start : start + 10]
            if lean:
                clear_gradients(optimizer)
            else:
                optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            if lean:
                optimizer_step(optimizer)
            else:
                optimizer.step()
            loss.item()
        steps += -(-len(x) // 10)
    return steps / (time.perf_counter() - started)


class Client:
    """One page's worth of websocket traffic: play, read frames, change the learning rate."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[tuple[float, int]] = []  # (arrival time, step)
        self.latencies_ms: list[float] = []
        self._pending: tuple[float, float] | None = None  # (learning rate, sent at)

    async def start(self) -> None:
        await self.ws.send(json.dumps({"type": "hello"}))
        while json.loads(await self.ws.recv())["type"] != "frame":
            pass
        await self.ws.send(json.dumps({"type": "control", "action": "play"}))

    async def read_for(
        self, seconds: float, change_every: float | None, warm_up: float = 0.0
    ) -> None:
        """Read frames for `seconds`, changing the learning rate every `change_every`. Frames
        of the first `warm_up` seconds are not counted: a page that waited for the others to
        start has a backlog of old frames in its socket, which would arrive all at once."""
        end = time.perf_counter() + seconds
        counted_from = time.perf_counter() + warm_up
        next_change = counted_from + 0.5
        learning_rates = iter([0.03, 0.031] * 10_000)
        while (now := time.perf_counter()) < end:
            if change_every and self._pending is None and now >= next_change:
                lr = next(learning_rates)
                self._pending = (lr, now)
                await self.ws.send(json.dumps({"type": "set", "learning_rate": lr}))
                next_change = now + change_every
            try:
                text = await asyncio.wait_for(self.ws.recv(), timeout=max(0.01, end - now))
            except TimeoutError:
                break
            message = json.loads(text)
            if message["type"] != "frame":
                continue
            arrived = time.perf_counter()
            if arrived >= counted_from:
                self.frames.append((arrived, message["step"]))
            if self._pending and message["learning_rate"] == self._pending[0]:
                self.latencies_ms.append((arrived - self._pending[1]) * 1000)
                self._pending = None

    # A page that got fewer than two frames in its window (seen on a busy machine, 20 sessions
    # on two shared cores) went at zero for this benchmark: a figure, not a crash.
    def frames_per_second(self) -> float:
        if len(self.frames) < 2:
            return 0.0
        (t0, _), (t1, _) = self.frames[0], self.frames[-1]
        return (len(self.frames) - 1) / (t1 - t0)

    def steps_per_second(self) -> float:
        if len(self.frames) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self.frames[0], self.frames[-1]
        return (s1 - s0) / (t1 - t0)


async def alternate_bare_and_streamed(
    url: str, rounds: int, seconds: float
) -> tuple[float, float, float]:
    """Steps/s of the bare loop, of the lean bare loop and of one streaming session, from
    alternating rounds."""
    bare_steps = lean_steps = bare_seconds = streamed_steps = streamed_seconds = 0.0
    async with connect(url, max_size=None) as ws:
        client = Client(ws)
        await client.start()
        await client.ws.send(json.dumps({"type": "control", "action": "pause"}))
        for _ in range(rounds):
            await asyncio.sleep(0.2)  # the pause has landed; frames in flight are read below
            bare_steps += bare_steps_per_second(seconds) * seconds
            lean_steps += bare_steps_per_second(seconds, lean=True) * seconds
            bare_seconds += seconds
            client.frames.clear()
            await client.ws.send(json.dumps({"type": "control", "action": "play"}))
            await client.read_for(seconds, change_every=None)
            await client.ws.send(json.dumps({"type": "control", "action": "pause"}))
            # From the first frame of the round: the play command's own start-up is excluded.
            (t0, s0), (t1, s1) = client.frames[1], client.frames[-1]
            streamed_steps += s1 - s0
            streamed_seconds += t1 - t0
    return bare_steps / bare_seconds, lean_steps / bare_seconds, streamed_steps / streamed_seconds


async def run_clients(url: str, n: int, seconds: float, change_every: float) -> list[Client]:
    sockets = [await connect(url, max_size=None) for _ in range(n)]
    clients = [Client(ws) for ws in sockets]
    try:
        for client in clients:
            await client.start()
        warm_up = WARM_UP_SECONDS if n > 1 else 0.0
        await asyncio.gather(*(c.read_for(seconds, change_every, warm_up) for c in clients))
    finally:
        for ws in sockets:
            await ws.close()
    return clients


def encoding_figures() -> Iterator[dict[str, Any]]:
    largest = LabConfig(model=ModelConfig(hidden_layers=[16] * 6))
    session = TrainingSession(largest)
    session.burst(20)
    frame = step_frame(session, "running", None, 64, 24, 0.0)
    frame.model_dump_json()
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        for _ in range(50):
            text = frame.model_dump_json()
        runs.append((time.perf_counter() - started) / 50 * 1e6)
    yield {
        "name": "snapshot_encode_us",
        "value": round(statistics.median(runs), 1),
        "unit": "us",
        "target": 100,
    }
    yield {"name": "frame_bytes", "value": len(text), "unit": "bytes", "model": "2-[16x6]-1"}
    default = step_frame(TrainingSession(), "running", None, 64, 24, 0.0).model_dump_json()
    yield {"name": "frame_bytes_default", "value": len(default), "unit": "bytes"}


def run() -> Iterator[dict[str, Any]]:
    torch.set_num_threads(1)
    yield from encoding_figures()
    server = LiveServer()
    try:
        url = server.url.replace("http", "ws") + "/ws"
        bare, lean, streamed = asyncio.run(
            alternate_bare_and_streamed(url, RATIO_ROUNDS, ROUND_SECONDS)
        )
        yield {
            "name": "stream_vs_bare_ratio",
            "value": round(streamed / bare, 3),
            "unit": "x",
            "baseline": round(bare),
            "streamed_steps_per_s": round(streamed),
            "bare_step_us": round(1e6 / bare, 1),
            "target": 0.9,
        }
        # The streaming's own cost: against the same loop with the engine's lean zero_grad/step.
        yield {
            "name": "stream_vs_lean_bare_ratio",
            "value": round(streamed / lean, 3),
            "unit": "x",
            "baseline": round(lean),
            "lean_bare_step_us": round(1e6 / lean, 1),
        }
        [one] = asyncio.run(run_clients(url, 1, LATENCY_SECONDS, change_every=0.25))
        yield {"name": "stream_fps", "value": round(one.frames_per_second(), 1), "unit": "frames/s"}
        yield {
            "name": "control_latency_ms_p95",
            "value": round(percentile(one.latencies_ms, 0.95), 1),
            "unit": "ms",
            "samples": len(one.latencies_ms),
            "target": 50,
        }

        rss_before = rss_mb(server.process.pid)
        clients = asyncio.run(run_clients(url, SESSIONS, SESSIONS_SECONDS, change_every=1.0))
        rss_after = rss_mb(server.process.pid)
        fps = [c.frames_per_second() for c in clients]
        speeds = [c.steps_per_second() for c in clients]
        latencies = [ms for c in clients for ms in c.latencies_ms]
        yield {
            "name": "sessions20_min_fps",
            "value": round(min(fps), 1),
            "unit": "frames/s",
            "median": round(statistics.median(fps), 1),
            "target": 10,
        }
        yield {
            "name": "sessions20_latency_ms_p95",
            "value": round(percentile(latencies, 0.95), 1),
            "unit": "ms",
            "samples": len(latencies),
            "target": 150,
        }
        yield {
            "name": "sessions20_fairness",
            "value": round(min(speeds) / max(speeds), 3) if max(speeds) else 0.0,
            "unit": "x",
            "slowest_steps_per_s": round(min(speeds)),
            "target": 0.7,
        }
        yield {
            "name": "session_rss_mb",
            "value": round((rss_after - rss_before) / SESSIONS, 2),
            "unit": "MB",
            "rss_before_mb": round(rss_before, 1),
            "rss_after_mb": round(rss_after, 1),
            "target": 15,
        }
    finally:
        server.stop()
