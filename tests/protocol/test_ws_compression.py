"""The websocket's permessage-deflate follows BACKPROP_WS_COMPRESSION: off by default (it cost a
class of 100 ~40% of its frames/s), on when asked, and a page gets its frames either way."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from tests.support.live_server import LiveServer


async def _extensions_and_first_frame(url: str) -> tuple[str | None, dict[str, object]]:
    ws_url = url.replace("http://", "ws://") + "/ws"
    async with connect(ws_url, max_size=None) as ws:  # offers permessage-deflate, as a browser
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        await ws.send(json.dumps({"type": "hello"}))
        await ws.send(json.dumps({"type": "control", "action": "step"}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "frame" and message["step"] == 1:
                return extensions, message


def test_the_server_sends_uncompressed_frames_by_default(live_server: LiveServer) -> None:
    extensions, frame = asyncio.run(_extensions_and_first_frame(live_server.url))
    assert extensions is None
    assert frame["layers"]


def test_compression_is_negotiated_when_the_setting_asks_for_it() -> None:
    server = LiveServer({"BACKPROP_WS_COMPRESSION": "true"})
    try:
        extensions, frame = asyncio.run(_extensions_and_first_frame(server.url))
    finally:
        server.stop()
    assert extensions is not None and "permessage-deflate" in extensions
    assert frame["layers"]
