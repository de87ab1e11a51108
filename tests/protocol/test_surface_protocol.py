"""The `surface` request and reply over the websocket: contents, limits, coalescing, following."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app import limits
from app.realtime.surface_runner import NOT_FINITE_CODE, encode_grid

from .helpers import receive_until, send, start, strict_loads


def train(ws: Any, steps: int) -> dict[str, Any]:
    """Play until a frame past `steps`, then pause; the paused frame."""
    send(ws, type="control", action="play")
    for _ in range(2000):
        message = strict_loads(ws.receive_text())
        if message["type"] == "frame" and message["step"] >= steps:
            break
    send(ws, type="control", action="pause")
    while True:
        message = receive_until(ws, "frame")
        if message["status"] == "paused":
            return message


def decode_grid(grid: dict[str, Any]) -> np.ndarray:
    codes = np.frombuffer(base64.b64decode(grid["data"]), dtype="<u2").astype(float)
    values = grid["low"] + codes / 65534 * (grid["high"] - grid["low"])
    values[codes == NOT_FINITE_CODE] = np.nan
    return values.reshape(grid["resolution"], grid["resolution"])


def test_a_surface_request_gets_the_grid_the_path_and_the_line(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        paused = train(ws, 300)
        send(ws, type="surface", mode="random", seed=3, resolution=21, span=0.5)
        surface = receive_until(ws, "surface")
    assert surface["step"] == paused["step"]
    assert surface["request"]["seed"] == 3 and surface["span"] == 0.5
    grid = decode_grid(surface["grid"])
    assert grid.shape == (21, 21) and np.isfinite(grid).all()
    # The middle of the grid is the current parameters: the frame's own training loss.
    assert grid[10, 10] == pytest.approx(paused["train_loss"], rel=1e-3)
    assert surface["center_loss"] == pytest.approx(paused["train_loss"], rel=1e-5)
    path = surface["path"]
    assert path["steps"][0] == 0 and path["steps"][-1] == paused["step"]
    assert len(path["steps"]) > 3, "one point per frame was recorded while training"
    assert len(path["alpha"]) == len(path["beta"]) == len(path["residual"]) == len(path["steps"])
    assert abs(path["alpha"][-1]) < 1e-6 and path["residual"][-1] < 1e-6
    line = surface["line"]["loss"]
    assert line[0] == pytest.approx(path["loss"][0], rel=1e-5)
    assert line[-1] == pytest.approx(paused["train_loss"], rel=1e-5)
    # centre, d1, d2: float32 vectors of the 2→[4, 2]→1 network's 25 linear parameters.
    for key in ("center", "d1", "d2"):
        assert len(base64.b64decode(surface[key])) == 4 * (3 * 4 + 5 * 2 + 3 * 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"resolution": limits.MAX_SURFACE_RESOLUTION + 1}, "resolution"),
        ({"resolution": limits.MIN_SURFACE_RESOLUTION - 1}, "resolution"),
        ({"span": 0}, "span"),
        ({"span": limits.MAX_SURFACE_SPAN * 2}, "span"),
        ({"mode": "hessian"}, "mode"),
        ({"follow_every_steps": -1}, "follow_every_steps"),
        (
            {"mode": "weights", "weights": [{"layer": 0, "out_neuron": 0, "in_neuron": 0}] * 2},
            "weights",
        ),
        ({"colour": "red"}, "colour"),
    ],
)
def test_requests_past_the_limits_get_an_error_naming_the_field(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="surface", **fields)
        error = receive_until(ws, "error")
        assert error["field"] == field
        # The session goes on: a good request is still answered.
        send(ws, type="surface", resolution=21)
        assert receive_until(ws, "surface")["grid"]["resolution"] == 21


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mode": "pca"}, "mode"),  # no path yet at step 0
        ({"mode": "weights"}, "weights"),  # none chosen
        (
            {
                "mode": "weights",
                "weights": [{"layer": 0, "out_neuron": 9, "in_neuron": 0}] * 1
                + [{"layer": 1, "out_neuron": 0, "in_neuron": 0}],
            },
            "weights",
        ),  # neuron 9 of a 4-neuron layer
    ],
)
def test_requests_this_run_cannot_answer_get_an_error_naming_the_field(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="surface", resolution=21, **fields)
        assert receive_until(ws, "error")["field"] == field


def test_the_newest_request_wins_while_one_is_computing(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        train(ws, 100)
        send(ws, type="surface", resolution=101)
        send(ws, type="surface", resolution=61)
        send(ws, type="surface", resolution=21)
        resolutions = []
        while not resolutions or resolutions[-1] != 21:
            resolutions.append(receive_until(ws, "surface")["grid"]["resolution"])
    assert 61 not in resolutions, f"a request replaced while waiting was computed: {resolutions}"


def test_following_recomputes_the_surface_as_training_goes_on(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="surface", resolution=21, follow_every_steps=50)
        assert receive_until(ws, "surface")["step"] == 0
        send(ws, type="control", action="play")
        steps, frames = [], 0
        while len(steps) < 3:
            message = strict_loads(ws.receive_text())
            if message["type"] == "surface":
                steps.append(message["step"])
            elif message["type"] == "frame":
                frames += 1
        send(ws, type="control", action="pause")
    assert steps == sorted(steps) and steps[-1] - steps[0] >= 100
    assert frames > len(steps), "frames kept coming between the surfaces"


def test_a_grid_with_overflowing_points_marks_them_not_finite() -> None:
    loss = torch.tensor([[0.5, float("nan")], [float("inf"), 2.5]])
    grid = encode_grid(loss)
    values = decode_grid(grid.model_dump())
    assert values[0, 0] == pytest.approx(0.5) and values[1, 1] == pytest.approx(2.5)
    assert np.isnan(values[0, 1]) and np.isnan(values[1, 0])
    assert (grid.low, grid.high) == (0.5, 2.5)
