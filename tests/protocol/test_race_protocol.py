"""The `race` request and reply over the websocket: paths on the surface's plane, and limits."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.training.race import MAX_RACE_STEPS, MAX_RACERS

from .helpers import receive_until, send

ENTRIES = [
    {"optimizer": "sgd", "learning_rate": 0.1},
    {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    {"optimizer": "adam", "learning_rate": 0.01},
]


def test_a_race_answers_with_one_path_per_optimizer_from_the_current_weights(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        send(ws, type="hello")
        receive_until(ws, "session")
        send(ws, type="surface", mode="random", seed=1, resolution=21)
        surface = receive_until(ws, "surface")
        send(ws, type="race", entries=ENTRIES, steps=120)
        race = receive_until(ws, "race")
    assert race["start_step"] == 0 and race["steps"] == 120
    assert race["surface_step"] == surface["step"]
    names = [r["name"] for r in race["racers"]]
    assert names == ["SGD, lr 0.1", "SGD+momentum 0.9, lr 0.1", "Adam, lr 0.01"]
    for racer in race["racers"]:
        assert racer["steps"][0] == 0 and racer["steps"][-1] == 120
        n = len(racer["steps"])
        assert len(racer["alpha"]) == len(racer["beta"]) == len(racer["residual"]) == n
        # The start is the plane's centre here (the surface is of the same weights).
        assert abs(racer["alpha"][0]) < 1e-5 and racer["residual"][0] < 1e-5
        assert racer["loss"][0] == pytest.approx(surface["center_loss"], rel=1e-5)
    assert len({r["loss"][-1] for r in race["racers"]}) == 3


def test_a_new_surface_brings_the_race_reprojected_on_its_plane(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        send(ws, type="hello")
        receive_until(ws, "session")
        send(ws, type="surface", mode="random", seed=1, resolution=21)
        receive_until(ws, "surface")
        send(ws, type="race", entries=ENTRIES[:1], steps=50)
        first = receive_until(ws, "race")
        send(ws, type="surface", mode="random", seed=2, resolution=21)
        again = receive_until(ws, "race")
    assert again["racers"][0]["loss"] == first["racers"][0]["loss"]
    assert again["racers"][0]["alpha"] != first["racers"][0]["alpha"]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"entries": ENTRIES * 2, "steps": 10}, "entries"),
        ({"entries": [], "steps": 10}, "entries"),
        ({"entries": ENTRIES, "steps": MAX_RACE_STEPS + 1}, "steps"),
        ({"entries": [{"optimizer": "lbfgs", "learning_rate": 0.1}]}, "entries.0.optimizer"),
        ({"entries": [{"optimizer": "sgd", "learning_rate": 0}]}, "entries.0.learning_rate"),
    ],
)
def test_a_race_beyond_the_limits_is_refused(
    client: TestClient, message: dict[str, Any], field: str
) -> None:
    assert len(ENTRIES * 2) > MAX_RACERS
    with client.websocket_connect("/ws") as ws:
        send(ws, type="hello")
        receive_until(ws, "session")
        send(ws, type="race", **message)
        error = receive_until(ws, "error")
    assert error["field"].startswith(field)
