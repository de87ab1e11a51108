"""The pace of Play: `steps_per_frame` caps every burst, and `control run` plays exactly N
steps, however many bursts they take, then pauses there."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import receive_frames_until_status, receive_until, send, start


def run_until_paused(ws: Any, steps: int) -> list[dict[str, Any]]:
    send(ws, type="control", action="run", steps=steps)
    return receive_frames_until_status(ws, "paused", limit=100_000)


def loss_steps(frames: list[dict[str, Any]]) -> list[int]:
    """The steps of the loss records the frames carried: one per burst."""
    return [point["step"] for frame in frames for point in frame["losses"]]


@pytest.mark.parametrize("pace", [0, 7])
def test_run_n_steps_stops_at_exactly_n_across_several_bursts(
    client: TestClient, pace: int
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", steps_per_frame=pace)
        receive_until(ws, "settings")
        at = 0
        for steps in (1, 37, 250):
            frames = run_until_paused(ws, steps)
            at += steps
            assert frames[-1]["step"] == at
            assert "paused at step" in frames[-1]["message"]
        # 250 steps at 7 a frame cannot fit in one burst: the count held across bursts.
        if pace:
            assert len(frames) >= 250 // pace


def test_a_pace_caps_the_steps_of_every_frame(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", steps_per_frame=3)
        assert receive_until(ws, "settings")["config"]["training"]["steps_per_frame"] == 3
        frames = run_until_paused(ws, 60)
        steps = [0, *loss_steps(frames)]
        gaps = [b - a for a, b in zip(steps, steps[1:], strict=False)]
        assert gaps and max(gaps) <= 3, gaps
        assert steps[-1] == 60


def test_pause_ends_a_run_of_n_steps_early_and_play_then_plays_on(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", steps_per_frame=1)
        receive_until(ws, "settings")
        send(ws, type="control", action="run", steps=100_000)
        send(ws, type="control", action="pause")
        paused = receive_frames_until_status(ws, "paused", limit=10_000)[-1]
        assert paused["step"] < 100_000
        send(ws, type="set", steps_per_frame=0)
        send(ws, type="control", action="play")
        frames = receive_frames_until_status(ws, "running")
        while frames[-1]["step"] < paused["step"] + 2000:
            frames = receive_frames_until_status(ws, "running")
        send(ws, type="control", action="pause")


@pytest.mark.parametrize(
    "message",
    [
        {"action": "run"},
        {"action": "run", "steps": 0},
        {"action": "play", "steps": 5},
        {"action": "run", "steps": 10**9},
    ],
)
def test_a_run_without_a_sound_step_count_is_refused(
    client: TestClient, message: dict[str, Any]
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="control", **message)
        error = receive_until(ws, "error")
        assert "steps" in error["message"]


def test_a_pace_out_of_bounds_is_refused(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", steps_per_frame=-1, request_id=4)
        error = receive_until(ws, "error")
        assert error["field"] == "steps_per_frame" and error["request_id"] == 4


def test_play_during_a_run_of_n_steps_plays_on_past_n(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", steps_per_frame=2)
        receive_until(ws, "settings")
        send(ws, type="control", action="run", steps=40)
        send(ws, type="control", action="play")
        frame = receive_until(ws, "frame")
        while frame["step"] <= 60:
            frame = receive_until(ws, "frame")
            assert frame["status"] == "running" or frame["step"] == 0, frame["message"]
        send(ws, type="control", action="pause")


def test_a_run_of_n_steps_left_by_its_page_goes_on_to_exactly_n_when_it_comes_back(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        send(ws, type="hello")
        session_id = receive_until(ws, "session")["session_id"]
        send(ws, type="set", steps_per_frame=2)
        receive_until(ws, "settings")
        send(ws, type="control", action="run", steps=300)
        receive_frames_until_status(ws, "running")
    with client.websocket_connect("/ws") as ws:
        send(ws, type="hello", session_id=session_id)
        assert receive_until(ws, "session")["resumed"] is True
        frame = receive_until(ws, "frame")
        while "paused at step" not in (frame["message"] or ""):
            frame = receive_until(ws, "frame", limit=100_000)
        assert frame["step"] == 300 and frame["status"] == "paused"
