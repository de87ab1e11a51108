"""Helpers for reading frames off a test websocket."""

from __future__ import annotations

import base64
import json
import math
from typing import Any, Protocol

import numpy as np


class TextSocket(Protocol):
    def receive_text(self) -> str: ...


def strict_loads(text: str) -> dict[str, Any]:
    """json.loads that refuses NaN/Infinity, as a browser's JSON.parse does; a frame's layers
    are decoded from base64 float32 into nested lists, as the page's socket.js does."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant} on the wire")

    message: dict[str, Any] = json.loads(text, parse_constant=refuse)
    if message.get("type") == "frame":
        for layer in message["layers"]:
            decode_layer(layer)
    return message


def decode_floats(data: str) -> list[float | None]:
    values = np.frombuffer(base64.b64decode(data), dtype="<f4").astype(float)
    return [float(v) if math.isfinite(v) else None for v in values]


def decode_matrix(data: str, shape: list[int]) -> list[list[float | None]]:
    rows, columns = shape
    flat = decode_floats(data)
    return [flat[r * columns : (r + 1) * columns] for r in range(rows)]


def decode_layer(layer: dict[str, Any]) -> None:
    layer["weights"] = decode_matrix(layer["weights"], layer["shape"])
    layer["biases"] = decode_floats(layer["biases"])
    if layer["weight_grads"] is not None:
        layer["weight_grads"] = decode_matrix(layer["weight_grads"], layer["shape"])
    if layer["bias_grads"] is not None:
        layer["bias_grads"] = decode_floats(layer["bias_grads"])


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
