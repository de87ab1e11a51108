"""Training pushed to diverge, under every activation and optimizer at the largest learning rate
a client may ask for: no NaN or infinity ever reaches the wire, and the session never sticks."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from app import limits
from app.main import create_app
from app.settings import Settings
from app.training.config import OptimizerName
from app.training.model import ActivationName

from .helpers import receive_until, strict_loads

ACTIVATIONS = get_args(ActivationName)
OPTIMIZERS = get_args(OptimizerName)
# Enough steps for every combination that diverges to do so (most take under 50).
MAX_STEPS = 400


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(
        max_messages_per_second=1000, boundary_resolution=16, neuron_map_resolution=8
    )
    with TestClient(create_app(settings)) as c:
        yield c


def send(ws: Any, **message: Any) -> None:
    ws.send_text(json.dumps(message))


def all_finite(values: Any) -> bool:
    """Every number in a nested list is a finite float: not NaN, not ±inf, not null."""
    if isinstance(values, list):
        return all(all_finite(v) for v in values)
    return isinstance(values, int | float) and math.isfinite(values)


def frames_until_stopped(ws: Any) -> list[dict[str, Any]]:
    """Frames while playing, until the run diverges or MAX_STEPS go by."""
    frames = []
    while True:
        message = strict_loads(ws.receive_text())  # refuses NaN/Infinity, as JSON.parse does
        if message["type"] == "error":
            raise AssertionError(message["message"])
        if message["type"] != "frame":
            continue
        frames.append(message)
        if message["status"] == "diverged" or message["step"] >= MAX_STEPS:
            return frames


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_largest_learning_rate_never_puts_nan_on_the_wire_nor_sticks(
    client: TestClient, optimizer: str
) -> None:
    with client.websocket_connect("/ws") as ws:
        send(ws, type="hello")
        receive_until(ws, "frame")
        for activation in ACTIVATIONS:
            send(ws, type="control", action="reset")
            send(
                ws,
                type="set",
                learning_rate=limits.MAX_LEARNING_RATE,
                activation=activation,
                optimizer=optimizer,
            )
            send(ws, type="control", action="play")
            frames = frames_until_stopped(ws)
            send(ws, type="control", action="pause")
            last = frames[-1]
            for frame in frames:
                for layer in frame["layers"]:
                    assert all_finite(layer["weights"]) and all_finite(layer["biases"]), (
                        f"{activation}/{optimizer}: a parameter is not finite at step "
                        f"{frame['step']}"
                    )
            if last["status"] == "diverged":
                assert "Lower the learning rate" in last["message"], last["message"]
            # Not stuck: a sane learning rate and a reset give a run that steps again.
            send(ws, type="set", learning_rate=0.03)
            send(ws, type="control", action="reset")
            send(ws, type="control", action="step")
            frame = receive_until(ws, "frame")
            while frame["step"] != 0:  # the frames of pause and set come first
                frame = receive_until(ws, "frame")
            while frame["step"] != 1:
                frame = receive_until(ws, "frame")
            assert frame["status"] != "diverged", f"{activation}/{optimizer} stays diverged"
            assert frame["train_loss"] is not None and math.isfinite(frame["train_loss"])
