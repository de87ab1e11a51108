"""The digits lab's default CNN at full speed, read over its websocket as its page reads it.

Figures (issue 18): seconds from Play to the first frame at ≥ 97 % test accuracy, frames/s
received over 20 s, and the largest frame. The client reads every frame, so it is the rate a
page gets, not a server-side counter; drawing in a browser is not included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from websockets.sync.client import connect

from tests.support.live_server import LiveServer

SECONDS = 20.0
TARGET_ACCURACY = 0.97


def run() -> Iterator[dict[str, Any]]:
    server = LiveServer()
    try:
        url = server.url.replace("http", "ws") + "/ws/images"
        with connect(url, max_size=2**24) as ws:
            while json.loads(ws.recv(timeout=30))["type"] != "image_frame":
                pass
            ws.send(json.dumps({"type": "image_control", "action": "play"}))
            started = time.monotonic()
            frames, largest, reached = 0, 0, None
            while (elapsed := time.monotonic() - started) < SECONDS:
                text = ws.recv(timeout=30)
                message = json.loads(text)
                if message["type"] != "image_frame":
                    continue
                frames += 1
                largest = max(largest, len(text.encode()))
                if reached is None and message["test_accuracy"] >= TARGET_ACCURACY:
                    reached = elapsed
    finally:
        server.stop()
    yield {"name": "digits_cnn_seconds_to_97", "value": reached, "unit": "s"}
    yield {"name": "digits_fps", "value": round(frames / SECONDS, 1), "unit": "frames/s"}
    yield {"name": "digits_frame_bytes", "value": largest, "unit": "bytes"}
