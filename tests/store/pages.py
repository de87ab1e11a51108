"""A scripted page for tests against real servers: says hello with its own id in the URL, as
the page does, and reads messages off the socket (frames kept raw, weights as sent)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from app.store.base import SessionStore
from app.store.records import decode_run

# Generous bounds on waits for things that take well under a second: a slow machine, not a race.
PATIENCE_SECONDS = 30.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {PATIENCE_SECONDS:g} s")
        time.sleep(0.1)


def health(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/healthz", timeout=5).json())


def stored_step(store: SessionStore, session_id: str) -> int | None:
    """The step of the run the store holds under `session_id` (read as another process would)."""
    raw = asyncio.run(store.get(session_id))
    return None if raw is None else decode_run(raw).state.step


def redis_stored_step(url: str, session_id: str) -> int | None:
    """The step the Redis at `url` holds for `session_id` (a client of its own, on one loop)."""
    from app.store.redis_store import RedisStore

    async def read() -> bytes | None:
        store = RedisStore(url, ttl_seconds=3600)
        try:
            return await store.get(session_id)
        finally:
            await store.close()

    raw = asyncio.run(read())
    return None if raw is None else decode_run(raw).state.step


class Page:
    def __init__(
        self,
        http_url: str,
        session_id: str,
        source_address: str | None = None,
        origin: str | None = None,
    ) -> None:
        """`origin`: sent as a browser sends its page's (scripts send none)."""
        self.session_id = session_id
        url = http_url.replace("http://", "ws://") + f"/ws?session={session_id}"
        sock = None
        if source_address is not None:
            # Another client address on loopback (Linux answers on all of 127.0.0.0/8).
            host, port = http_url.removeprefix("http://").split(":")
            sock = socket.socket()
            sock.bind((source_address, 0))
            sock.connect((host, int(port)))
        # Entered here and closed by close(): a page lives across several steps of a test.
        self.ws: ClientConnection = connect(
            url,
            sock=sock,
            max_size=2**24,
            origin=origin,  # type: ignore[arg-type]
        ).__enter__()

    def hello(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        hello: dict[str, Any] = {"type": "hello", "session_id": self.session_id}
        if config is not None:
            hello["config"] = config
        self.send(hello)
        return self.receive("session")

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def receive(self, wanted: str) -> dict[str, Any]:
        while True:
            message = self.next()
            if message["type"] == wanted:
                return message
            if message["type"] == "error" and wanted != "error":
                raise AssertionError(f"the server refused: {message['message']}")

    def next(self) -> dict[str, Any]:
        raw = self.ws.recv(timeout=PATIENCE_SECONDS)
        assert isinstance(raw, str)
        return dict(json.loads(raw))

    def frame_at_least(self, step: int) -> dict[str, Any]:
        frame = self.receive("frame")
        while frame["step"] < step:
            frame = self.receive("frame")
        return frame

    def frames_until_closed(self) -> list[dict[str, Any]]:
        """Every frame until the server closes the socket."""
        frames = []
        try:
            while True:
                message = self.next()
                if message["type"] == "frame":
                    frames.append(message)
        except ConnectionClosed:
            return frames

    def close(self) -> None:
        self.ws.close()


def weights(frame: dict[str, Any]) -> list[tuple[str, str]]:
    """A frame's weights and biases as sent (base64 float32): equal strings, equal bits."""
    return [(layer["weights"], layer["biases"]) for layer in frame["layers"]]
