"""A new run (configure, reset, rewind, model file, CSV points) leaves the old race behind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import receive_until, send, strict_loads

ENTRIES = [{"optimizer": "sgd", "learning_rate": 0.1}]
CSV_ROWS = "x1,x2,label\n" + "\n".join(f"{i / 4},{-i / 4},{i % 2}" for i in range(20))


def start_with_a_race(ws: Any) -> str:
    """A session with a surface and a finished race drawn on it; its id."""
    send(ws, type="hello")
    session_id = str(receive_until(ws, "session")["session_id"])
    send(ws, type="surface", mode="random", seed=1, resolution=21)
    receive_until(ws, "surface")
    send(ws, type="race", entries=ENTRIES, steps=20)
    receive_until(ws, "race")
    return session_id


def messages_until(ws: Any, wanted: str, limit: int = 300) -> list[dict[str, Any]]:
    """Every message up to and including the first of type `wanted`."""
    seen = []
    for _ in range(limit):
        seen.append(strict_loads(ws.receive_text()))
        if seen[-1]["type"] == wanted:
            return seen
    raise AssertionError(f"no {wanted!r} message within {limit} messages")


def configure_new_data(client: TestClient, ws: Any, session_id: str) -> None:
    # The same network on other points: the parameter count, and so the plane, stays.
    send(ws, type="configure", data={"dataset": "xor", "seed": 5})


def reset(client: TestClient, ws: Any, session_id: str) -> None:
    send(ws, type="control", action="reset")


def rewind(client: TestClient, ws: Any, session_id: str) -> None:
    send(ws, type="rewind", step=0)


def load_model_file(client: TestClient, ws: Any, session_id: str) -> None:
    saved = client.get(f"/api/sessions/{session_id}/checkpoint")
    assert client.post(f"/api/sessions/{session_id}/checkpoint", content=saved.content).is_success


def upload_points(client: TestClient, ws: Any, session_id: str) -> None:
    response = client.post(f"/api/sessions/{session_id}/points", content=CSV_ROWS.encode())
    assert response.is_success, response.text


NEW_RUNS: list[Callable[[TestClient, Any, str], None]] = [
    configure_new_data,
    reset,
    rewind,
    load_model_file,
    upload_points,
]


@pytest.mark.parametrize("new_run", NEW_RUNS, ids=lambda f: f.__name__)
def test_a_new_surface_after_a_new_run_does_not_bring_the_old_race(
    client: TestClient, new_run: Callable[[TestClient, Any, str], None]
) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = start_with_a_race(ws)
        new_run(client, ws, session_id)
        send(ws, type="surface", mode="random", seed=2, resolution=21)
        seen = messages_until(ws, "surface")
        # Anything queued with the surface has been sent before the answer to this.
        send(ws, type="inspect", x1=0.0, x2=0.0)
        seen += messages_until(ws, "inspection")
    assert [m for m in seen if m["type"] == "race"] == []


def test_a_race_still_running_when_the_run_is_rebuilt_is_never_shown(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start_with_a_race(ws)
        send(ws, type="race", entries=[{"optimizer": "adam", "learning_rate": 0.01}], steps=400)
        configure_new_data(client, ws, "")
        send(ws, type="race", entries=ENTRIES, steps=10)
        race = receive_until(ws, "race")
    # The first race after the rebuild is the one asked for the new run.
    assert [r["name"] for r in race["racers"]] == ["SGD, lr 0.1"] and race["steps"] == 10
