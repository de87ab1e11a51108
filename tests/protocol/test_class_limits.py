"""A class fits out of the box, and the visitor one too many is told the server is full."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.protocol.helpers import receive_until, strict_loads


def test_the_default_server_admits_a_class_of_a_hundred() -> None:
    assert Settings().max_sessions >= 100


def test_past_the_limit_a_visitor_is_told_the_server_is_full_and_what_to_do() -> None:
    with (
        TestClient(create_app(Settings(max_sessions=2))) as client,
        client.websocket_connect("/ws") as first,
        client.websocket_connect("/ws") as second,
    ):
        for ws in (first, second):
            ws.send_text(json.dumps({"type": "hello"}))
            receive_until(ws, "session")
        with client.websocket_connect("/ws") as third:
            third.send_text(json.dumps({"type": "hello"}))
            refusal = strict_loads(third.receive_text())
        assert refusal["type"] == "error"
        message = refusal["message"]
        assert "full" in message and "all 2 " in message
        assert "try again in a minute" in message.lower()
        assert "BACKPROP_MAX_SESSIONS" in message
