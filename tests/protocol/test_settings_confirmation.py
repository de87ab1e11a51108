"""A `set` is applied whole or refused whole, and the server confirms the settings in force."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import receive_until, send, start

CSV_ROWS = "x1,x2,label\n" + "\n".join(f"{i / 4},{-i / 4},{i % 2}" for i in range(20))


def session_id_of(ws: Any) -> str:
    send(ws, type="hello")
    session_id = str(receive_until(ws, "session")["session_id"])
    receive_until(ws, "frame")
    return session_id


def test_a_set_refused_for_one_field_changes_nothing_and_names_that_field(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        first = start(ws)
        assert first["learning_rate"] == 0.03
        # Freezing every layer of the [4, 2] network leaves nothing to train: refused.
        send(ws, type="set", learning_rate=0.5, frozen_layers=[0, 1, 2], request_id=11)
        error = receive_until(ws, "error")
        send(ws, type="set", request_id=12)
        settings = receive_until(ws, "settings")
        send(ws, type="control", action="step")
        frame = receive_until(ws, "frame")
    assert error["field"] == "frozen_layers" and error["request_id"] == 11
    assert settings["request_id"] == 12
    assert settings["config"]["training"]["learning_rate"] == 0.03
    assert settings["config"]["model"]["frozen_layers"] == []
    assert frame["learning_rate"] == 0.03 and frame["frozen_layers"] == []


def test_a_set_of_optimizer_and_batch_size_applies_both(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        first = start(ws)
        send(ws, type="set", optimizer="adam", batch_size=30, request_id=3)
        settings = receive_until(ws, "settings")
        send(ws, type="control", action="step")
        frame = receive_until(ws, "frame")
        while frame["step"] != first["step"] + 1:
            frame = receive_until(ws, "frame")
    training = settings["config"]["training"]
    assert settings["request_id"] == 3
    assert training["optimizer"] == "adam" and training["batch_size"] == 30
    # 500 points, half for training: one batch of 30 is 30/250 of an epoch.
    assert frame["epoch"] == pytest.approx(first["epoch"] + 30 / 250)
    assert frame["optimizer_state"][0]["exp_avg"] is not None


def test_a_configure_is_confirmed_with_its_request_id(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="configure", data={"dataset": "xor"}, request_id=42)
        settings = receive_until(ws, "settings")
    assert settings["request_id"] == 42
    assert settings["config"]["data"]["dataset"] == "xor"
    assert settings["skip_zero_grad"] is False


def test_a_request_refused_by_validation_carries_its_request_id_back(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", learning_rate=-1, request_id=5)
        refused = receive_until(ws, "error")
        send(ws, type="configure", model={"hidden_layers": []}, request_id=6)
        refused_configure = receive_until(ws, "error")
        send(ws, type="set", learning_rate=-1, request_id="seven")
        no_id = receive_until(ws, "error")
    assert refused["field"] == "learning_rate" and refused["request_id"] == 5
    assert refused_configure["request_id"] == 6
    assert no_id["request_id"] is None


def test_every_page_of_the_session_gets_the_settings_without_the_others_request_id(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws, client.websocket_connect("/ws") as other:
        session_id = session_id_of(ws)
        send(other, type="hello", session_id=session_id)
        receive_until(other, "session")
        send(ws, type="set", skip_zero_grad=True, request_id=9)
        mine = receive_until(ws, "settings")
        theirs = receive_until(other, "settings")
    assert mine == theirs
    assert mine["skip_zero_grad"] is True and mine["request_id"] == 9


def test_a_rewind_a_model_file_and_csv_points_each_send_the_settings(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = session_id_of(ws)
        send(ws, type="set", learning_rate=0.1)
        receive_until(ws, "settings")
        send(ws, type="rewind", step=0)
        rewound = receive_until(ws, "settings")
        saved = client.get(f"/api/sessions/{session_id}/checkpoint")
        loaded = client.post(f"/api/sessions/{session_id}/checkpoint", content=saved.content)
        assert loaded.is_success
        from_file = receive_until(ws, "settings")
        points = client.post(f"/api/sessions/{session_id}/points", content=CSV_ROWS.encode())
        assert points.is_success
        from_csv = receive_until(ws, "settings")
    assert [m["request_id"] for m in (rewound, from_file, from_csv)] == [None, None, None]
    assert from_file["config"] == rewound["config"]
    assert from_csv["config"]["data"] == from_file["config"]["data"]


def test_a_message_nested_too_deep_to_read_is_refused_without_an_id(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        # Deeper than Python's json can read (it raises RecursionError, not ValueError).
        ws.send_text("[" * 5000 + "]" * 5000)
        refused = receive_until(ws, "error")
        send(ws, type="set", request_id=1)
        settings = receive_until(ws, "settings")
    assert refused["request_id"] is None and settings["request_id"] == 1
