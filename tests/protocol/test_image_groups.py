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


def test_a_member_that_diverges_in_its_group_stops_alone_and_the_others_train_on(
    client: TestClient,
) -> None:
    groups = groups_of(client)
    mlp = {"conv_blocks": [], "hidden_layers": [64, 64], "activation": "elu"}
    # Measured: this MLP's loss is NaN by its 9th step at rate 10 from step 0 (its loss can
    # also stay huge but finite when the rate goes up later: then it never diverges).
    rates = [10.0, 0.01, 0.01]
    with (
        client.websocket_connect("/ws/images") as a,
        client.websocket_connect("/ws/images") as b,
        client.websocket_connect("/ws/images") as c,
    ):
        pages, ids = [a, b, c], []
        for ws, rate in zip(pages, rates, strict=True):
            info = receive(ws, "image_session")
            config = info["config"]
            config["model"] = mlp
            config["training"] = {"optimizer": "sgd", "learning_rate": rate, "momentum": 0.9}
            ws.send_json({"type": "image_configure", "config": config})
            ids.append(receive(ws, "image_session")["run_id"])
        last = [playing(b), playing(c)]
        for _ in range(300):
            last = [frames_until(ws, f["step"], f) for ws, f in zip(pages[1:], last, strict=True)]
            if groups.grouped(ids[1]) and groups.grouped(ids[2]):
                break
        assert groups.grouped(ids[1]) and groups.grouped(ids[2])
        # A plays from step 0 into the group of B and C, and diverges there.
        eager = groups.stats().eager_steps
        control(a, "play")
        for _ in range(200):
            frame = receive(a, "image_frame")
            if frame["status"] == "diverged":
                break
        assert frame["status"] == "diverged" and frame["train_losses"][-1] is None
        assert groups.stats().eager_steps == eager, "A (or B, C) trained out of the group"
        assert all(value is not None for value in frame["filters"]["weights"])  # last finite
        assert not groups.grouped(ids[0])
        for ws, f in zip(pages[1:], last, strict=True):
            on = frames_until(ws, f["step"] + 30, f)
            assert all(loss is not None for loss in on["train_losses"])
            assert all(value is not None for value in on["filters"]["weights"])
        for ws in pages[1:]:
            control(ws, "pause")


def test_a_grouped_run_s_curve_has_every_step_and_it_rewinds_to_a_step_kept_in_the_group(
    client: TestClient,
) -> None:
    groups = groups_of(client)
    with client.websocket_connect("/ws/images") as a, client.websocket_connect("/ws/images") as b:
        ids = [receive(ws, "image_session")["run_id"] for ws in (a, b)]
        last_a, last_b = playing(a), playing(b)
        for _ in range(300):
            last_a = frames_until(a, last_a["step"], last_a)
            last_b = frames_until(b, last_b["step"], last_b)
            if groups.grouped(ids[0]) and groups.grouped(ids[1]):
                break
        assert groups.grouped(ids[0])
        last_a = frames_until(a, last_a["step"] + 30, last_a)
        control(b, "pause")
        control(a, "pause")
        paused = receive(a, "image_frame")
        # Every frame carries its steps' losses, the pause's too (steps the group took before).
        while paused["status"] == "running":
            assert len(paused["train_losses"]) == paused["step"] - last_a["step"]
            last_a, paused = paused, receive(a, "image_frame")
        assert len(paused["train_losses"]) == paused["step"] - last_a["step"]
        kept = paused["timeline"]["steps"]
        assert kept[-1] > 0
        target = kept[len(kept) // 2]
        a.send_json({"type": "image_rewind", "step": target})
        rewound = receive(a, "image_rewound")
        # Every step's loss is on the curve once, whoever took it (the group or the run alone).
        assert rewound["curve_steps"] == list(range(1, len(rewound["curve_steps"]) + 1))
        assert rewound["curve_steps"][-1] >= paused["step"]
        assert all(loss is not None for loss in rewound["curve_losses"])
        shown = receive(a, "image_frame")
        assert rewound["step"] == shown["step"] == target
