"""The digits lab's loss landscape over `/ws/images`: what the page asks, and what it gets back
is the landscape of its run, computed here again independently in one go."""

from __future__ import annotations

import math

import torch
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app.training.images.config import ImageLabConfig
from app.training.images.landscape import (
    compute_landscape,
    flat_parameters,
    new_trajectory,
    take_snapshot,
)
from app.training.images.run import ImageRun
from tests.protocol.test_image_socket import control, receive


def step(ws: WebSocketTestSession, times: int) -> None:
    for _ in range(times):
        control(ws, "step")
        receive(ws, "image_frame")


def test_the_landscape_is_the_run_s_at_the_step_asked(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        step(ws, 3)
        ws.send_json({"type": "image_landscape", "resolution": 7, "span": 0.5, "seed": 4})
        answer = receive(ws, "image_landscape")

    # The page's run, again: same defaults, same seeds, its path recorded at every step.
    torch.set_num_threads(1)
    run = ImageRun(ImageLabConfig())
    path = new_trajectory(run.model)
    path.record(0, flat_parameters(run.model), run.last_loss)
    for _ in range(3):
        run.step()
        path.record(run.step_count, flat_parameters(run.model), run.last_loss)
    expected = compute_landscape(take_snapshot(run, path), 7, 0.5, 4)

    assert (answer["step"], answer["resolution"], answer["span"], answer["seed"]) == (3, 7, 0.5, 4)
    assert len(answer["loss"]) == 7 and all(len(row) == 7 for row in answer["loss"])
    assert torch.allclose(torch.tensor(answer["loss"]), expected.loss, rtol=1e-5)
    assert math.isclose(answer["center_loss"], expected.center_loss, rel_tol=1e-6)
    assert answer["low"] == min(map(min, answer["loss"]))
    assert answer["alphas"][0] == -0.5 and answer["betas"][-1] == 0.5
    assert answer["path"]["steps"] == [0, 1, 2, 3]
    assert answer["path"]["alpha"][-1] == 0 and answer["path"]["beta"][-1] == 0
    assert answer["line"]["start_step"] == 0
    assert math.isclose(answer["line"]["loss"][-1], answer["center_loss"], rel_tol=1e-6)
    assert answer["images"] == 256 and answer["compute_ms"] > 0


def test_a_reset_starts_the_path_afresh(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        step(ws, 4)
        control(ws, "reset")
        receive(ws, "image_session")
        step(ws, 1)
        ws.send_json({"type": "image_landscape", "resolution": 5})
        answer = receive(ws, "image_landscape")
        assert answer["step"] == 1 and answer["path"]["steps"] == [0, 1]


def test_limits_get_an_error_frame_and_the_socket_stays_open(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        ws.send_json({"type": "image_landscape", "resolution": 1001})
        assert receive(ws, "error")["field"] == "resolution"
        ws.send_json({"type": "image_landscape", "span": 50})
        assert receive(ws, "error")["field"] == "span"
        ws.send_json({"type": "image_landscape", "resolution": 5, "span": 2})
        answer = receive(ws, "image_landscape")
        assert answer["resolution"] == 5 and answer["span"] == 2 and answer["step"] == 0


def test_while_playing_the_path_follows_the_frames_up_to_the_snapshot(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        control(ws, "play")
        frame_steps = [receive(ws, "image_frame")["step"] for _ in range(4)]
        ws.send_json({"type": "image_landscape", "resolution": 5})
        answer = receive(ws, "image_landscape")
        control(ws, "pause")
    steps = answer["path"]["steps"]
    assert steps[0] == 0 and steps[-1] == answer["step"] >= frame_steps[-1]
    assert steps == sorted(set(steps)) and set(frame_steps) <= set(steps)
    assert answer["path"]["alpha"][-1] == 0 and answer["path"]["residual"][-1] == 0
