"""Every kept run names the loss it trained with, so the page overlays only runs whose loss
means the same as the current one's."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import receive_until, send, start


def test_each_run_says_which_loss_it_trained_with(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="control", action="step")
        receive_until(ws, "frame")
        send(ws, type="configure", data={"dataset": "sine"})
        runs = receive_until(ws, "runs")["runs"]
        while len(runs) < 2:
            runs = receive_until(ws, "runs")["runs"]
        frame = receive_until(ws, "frame")
    assert [(r["current"], r["loss_name"]) for r in runs] == [
        (False, "BCEWithLogitsLoss"),
        (True, "MSELoss"),
    ]
    assert frame["loss_name"] == "MSELoss"
