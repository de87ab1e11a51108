"""Two digits pages playing the same model train in one group; a page's own command takes
its run out first, and each page's frames read as if its run trained alone."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app.realtime.image_groups import ImageGroups
from tests.protocol.test_image_socket import control, receive


def groups_of(client: TestClient) -> ImageGroups:
    groups: ImageGroups = client.app.state.registry.playing.image_groups  # type: ignore[attr-defined]
    return groups


def playing(ws: WebSocketTestSession) -> dict[str, Any]:
    """Play, and its first frame (frames of earlier commands are passed over)."""
    control(ws, "play")
    frame = receive(ws, "image_frame")
    while frame["status"] != "running":
        frame = receive(ws, "image_frame")
    return frame


def frames_until(ws: WebSocketTestSession, step: int, last: dict[str, Any]) -> dict[str, Any]:
    """Frames until one past `step`, each carrying exactly the losses of its steps."""
    frame = last
    for _ in range(2000):
        if frame["step"] > step:
            return frame
        previous, frame = frame, receive(ws, "image_frame")
        assert frame["status"] == "running", frame["status"]
        assert len(frame["train_losses"]) == frame["step"] - previous["step"]
    raise AssertionError(f"no frame past step {step}")


def test_two_playing_pages_of_one_shape_train_in_one_group(client: TestClient) -> None:
    groups = groups_of(client)
    with client.websocket_connect("/ws/images") as a, client.websocket_connect("/ws/images") as b:
        last_a, last_b = playing(a), playing(b)
        for _ in range(200):
            last_a = frames_until(a, last_a["step"], last_a)
            last_b = frames_until(b, last_b["step"], last_b)
            if groups.stats().groups == 1 and groups.stats().grouped_steps > 0:
                break
        assert groups.stats().groups == 1
        grouped = groups.stats().grouped_steps
        # Both pages go on stepping, the group taking their steps.
        last_a = frames_until(a, last_a["step"] + 20, last_a)
        last_b = frames_until(b, last_b["step"] + 20, last_b)
        assert groups.stats().grouped_steps > grouped
        # A phase step on one page takes its run out of the group: that page is paused
        # mid-step, the other trains on alone.
        control(a, "step_phase")
        phased = receive(a, "image_frame")
        while phased.get("phase") is None:
            phased = receive(a, "image_frame")
        assert phased["status"] == "paused" and phased["phase"]["done"] == "zero_grad"
        assert groups.stats().groups == 0
        eager = groups.stats().eager_steps
        last_b = frames_until(b, last_b["step"] + 20, last_b)
        assert groups.stats().eager_steps > eager
        control(b, "pause")
        paused = receive(b, "image_frame")
        while paused["status"] == "running":
            paused = receive(b, "image_frame")
        assert paused["status"] == "paused" and paused["step"] >= last_b["step"]
