"""The same link diverges at the same step however it is played: Play, Reset then Play, a
paced Play, or one Step at a time — ten times each."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from .helpers import receive_frames_until_status, receive_until, send

# The "learning rate too high" lesson: sigmoid at learning rate 10 (its card's seed, 0).
CONFIG = {"model": {"activation": "sigmoid"}, "training": {"learning_rate": 10}}
TRIES = 10


def diverged_at(frame: dict[str, Any]) -> int:
    found = re.search(r"Diverged at step (\d+)", frame["message"] or "")
    assert found, frame["message"]
    return int(found.group(1))


def open_run(ws: Any) -> None:
    send(ws, type="hello", config=CONFIG)
    receive_until(ws, "frame")


def play_until_diverged(ws: Any) -> int:
    send(ws, type="control", action="play")
    return diverged_at(receive_frames_until_status(ws, "diverged", limit=100_000)[-1])


def step_until_diverged(ws: Any) -> int:
    for _ in range(1000):
        send(ws, type="control", action="step")
        frame = receive_until(ws, "frame")
        if frame["status"] == "diverged":
            return diverged_at(frame)
    raise AssertionError("no divergence in 1,000 single steps")


def test_play_reset_play_and_single_steps_diverge_at_the_same_step(client: TestClient) -> None:
    found: dict[str, set[int]] = {"play": set(), "reset, play": set(), "paced": set()}
    found["steps"] = set()
    with client.websocket_connect("/ws") as ws:
        open_run(ws)
        found["play"].add(play_until_diverged(ws))
        for _ in range(TRIES):
            send(ws, type="control", action="reset")
            found["reset, play"].add(play_until_diverged(ws))
        for _ in range(TRIES):
            send(ws, type="control", action="reset")
            found["steps"].add(step_until_diverged(ws))
        send(ws, type="set", steps_per_frame=7)
        for _ in range(3):
            send(ws, type="control", action="reset")
            found["paced"].add(play_until_diverged(ws))
    for _ in range(TRIES - 1):  # a fresh Play, in a fresh session each time
        with client.websocket_connect("/ws") as ws:
            open_run(ws)
            found["play"].add(play_until_diverged(ws))
    assert all(len(steps) == 1 for steps in found.values()), found
    assert len(set.union(*found.values())) == 1, found
