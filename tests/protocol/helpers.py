"""Helpers for reading frames off a test websocket."""

from __future__ import annotations

import json
from typing import Any, Protocol


class TextSocket(Protocol):
    def receive_text(self) -> str: ...


def strict_loads(text: str) -> dict[str, Any]:
    """json.loads that refuses NaN/Infinity, as a browser's JSON.parse does."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant} on the wire")

    return json.loads(text, parse_constant=refuse)


def receive_until(ws: TextSocket, wanted: str, limit: int = 200) -> dict[str, Any]:
    for _ in range(limit):
        message = strict_loads(ws.receive_text())
        if message["type"] == wanted:
            return message
    raise AssertionError(f"no {wanted!r} message within {limit} messages")


def receive_frames_until_status(
    ws: TextSocket, status: str, limit: int = 300
) -> list[dict[str, Any]]:
    """Every frame up to and including the first with `status` (the run stops there)."""
    frames = []
    for _ in range(limit):
        message = strict_loads(ws.receive_text())
        if message["type"] == "frame":
            frames.append(message)
            if message["status"] == status:
                return frames
    raise AssertionError(f"no frame with status {status!r} in {limit} messages")


def send(ws: Any, **message: Any) -> None:
    ws.send_text(json.dumps(message))


def start(ws: Any) -> dict[str, Any]:
    """Say hello and return the session's first frame."""
    send(ws, type="hello")
    receive_until(ws, "session")
    return receive_until(ws, "frame")
