"""Health figures travel with a version: fresh ones raise it, frames in between repeat them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import receive_until, send, start


def test_paused_steps_each_bring_fresh_health(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        first = start(ws)
        versions = [first["health_version"]]
        for step in (1, 2, 3):
            send(ws, type="control", action="step")
            frame = receive_until(ws, "frame")
            assert frame["step"] == step
            versions.append(frame["health_version"])
        assert versions == sorted(set(versions)), versions  # strictly rising


def test_while_playing_frames_between_refreshes_repeat_the_same_health(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="control", action="play")
        frames = [receive_until(ws, "frame") for _ in range(40)]
        send(ws, type="control", action="pause")
    by_version: dict[int, list[dict[str, object]]] = {}
    for frame in frames:
        by_version.setdefault(frame["health_version"], []).append(frame)
    # ~30 frames/s against ~5 refreshes/s: some versions span several frames, all identical.
    repeated = [same for same in by_version.values() if len(same) > 1]
    assert repeated, "every frame carried freshly computed health"
    for same in repeated:
        assert all(f["health"] == same[0]["health"] for f in same)
    assert sorted(by_version) == list(by_version), "versions went backwards"
