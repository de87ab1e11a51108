"""Pages that stop reading, over 30 s: the server's memory and another page's frame rate.

Ten sockets watch one run of a big model and never read; one healthy page trains beside them.
Frames for the stalled pages are replaced, not queued, so the server's RSS should stay flat
(the kernel's socket buffers, which do fill, are not part of it).

Caveats: a big run's RSS alone climbs for a while before it levels off (one page, no stalls:
262 → 391 MB over 25 s with the app's malloc settings, app/allocator.py; 262 → 854 MB without),
so the growth figure here still holds that warm-up, for eleven big runs; and the frame-rate
baseline has no second run training, so its ratio includes CPU sharing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from websockets.sync.client import connect

from tests.protocol.test_lifecycle import BIG_FRAMES, BIG_MODEL, stalled_pages, ws_url
from tests.support.live_server import LiveServer, rss_mb

SECONDS = 30.0
STALLED_PAGES = 10


def healthy_frames_per_second(server: LiveServer, seconds: float) -> tuple[float, list[float]]:
    """Frames a healthy page receives per second, and the server's RSS sampled each second."""
    samples: list[float] = []
    with connect(ws_url(server), max_size=2**24) as ws:
        ws.send(json.dumps({"type": "hello"}))
        ws.send(json.dumps({"type": "configure", "model": BIG_MODEL}))
        ws.send(json.dumps({"type": "control", "action": "play"}))
        frames, started, next_sample = 0, time.monotonic(), 0.0
        while (elapsed := time.monotonic() - started) < seconds:
            if elapsed >= next_sample:
                samples.append(rss_mb(server.process.pid))
                next_sample += 1.0
            message = json.loads(ws.recv(timeout=30))
            frames += message["type"] == "frame"
    return frames / seconds, samples


def run() -> Iterator[dict[str, Any]]:
    server = LiveServer(BIG_FRAMES)
    try:
        alone, _ = healthy_frames_per_second(server, 5.0)
        with stalled_pages(server, None, STALLED_PAGES):
            time.sleep(3)  # their socket buffers fill
            beside, samples = healthy_frames_per_second(server, SECONDS)
        first, last, peak = samples[0], samples[-1], max(samples)
        yield {"name": "slow_reader_rss_start", "value": round(first, 1), "unit": "MB"}
        yield {"name": "slow_reader_rss_end", "value": round(last, 1), "unit": "MB"}
        yield {"name": "slow_reader_rss_peak", "value": round(peak, 1), "unit": "MB"}
        yield {
            "name": "slow_reader_rss_growth_per_minute",
            "value": round((last - first) / SECONDS * 60, 1),
            "unit": "MB/min",
        }
        yield {
            "name": "healthy_page_frames_per_second_beside_stalled",
            "value": round(beside, 1),
            "unit": "frames/s",
            "baseline": round(alone, 1),
            "ratio": round(beside / alone, 2) if alone else None,
        }
    finally:
        server.stop()
