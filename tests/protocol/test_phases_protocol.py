"""Phase stepping, the autograd graph and the code listing over the websocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.training.config import LabConfig
from app.training.phases import PHASES
from app.training.session import TrainingSession

from .helpers import receive_until, strict_loads


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(max_messages_per_second=1000))) as c:
        yield c


def hello(ws: Any) -> dict[str, dict[str, Any]]:
    """Start a session; every message up to its first frame, by type."""
    ws.send_text(json.dumps({"type": "hello", "config": LabConfig().model_dump()}))
    seen: dict[str, dict[str, Any]] = {}
    while "frame" not in seen:
        message = strict_loads(ws.receive_text())
        seen[message["type"]] = message
    return seen


def control(ws: Any, action: str) -> dict[str, Any]:
    ws.send_text(json.dumps({"type": "control", "action": action}))
    return receive_until(ws, "frame")


def test_five_phases_show_what_each_changed_and_make_one_step(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        control(ws, "step")  # gradients exist, so clearing them shows
        frames = {phase: control(ws, "step_phase") for phase in PHASES}

    for phase, frame in frames.items():
        assert frame["phase"]["done"] == phase
    assert [f["step"] for f in frames.values()] == [1, 1, 1, 1, 2]
    assert frames["zero_grad"]["phase"]["next"] == "forward"
    assert all(layer["weight_grads"] is None for layer in frames["zero_grad"]["layers"])
    assert frames["zero_grad"]["phase"]["activity"] is None

    activity = frames["forward"]["phase"]["activity"]
    assert [len(a["pre_activations"]) for a in activity] == [4, 2, 1]
    assert frames["forward"]["phase"]["loss"] is None
    assert frames["loss"]["phase"]["loss"] > 0
    assert all(layer["weight_grads"] is None for layer in frames["loss"]["layers"])
    assert all(layer["weight_grads"] is not None for layer in frames["backward"]["layers"])

    updates = frames["step"]["phase"]["updates"]
    for before, after, update in zip(
        frames["backward"]["layers"], frames["step"]["layers"], updates, strict=True
    ):
        assert update["weights_before"] == before["weights"]
        want = torch.tensor(after["weights"]) - torch.tensor(before["weights"])
        assert torch.equal(torch.tensor(update["weight_deltas"]), want)


def test_the_phased_step_equals_the_engines_own_steps(client: TestClient) -> None:
    reference = TrainingSession(LabConfig())
    reference.train_step()
    reference.train_step()
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        control(ws, "step")
        for _ in range(3):
            control(ws, "step_phase")
        # Step in the middle of a phase step finishes that step rather than starting another.
        frame = control(ws, "step")
    assert frame["step"] == 2 and frame["phase"]["done"] == "step"
    for layer, snapshot in zip(frame["layers"], reference.layer_snapshots(), strict=True):
        assert layer["weights"] == snapshot.weights.tolist()


def test_skip_zero_grad_leaves_the_gradients_in_place(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        ws.send_text(json.dumps({"type": "set", "skip_zero_grad": True}))
        receive_until(ws, "frame")
        control(ws, "step")
        frame = control(ws, "step_phase")
    assert frame["phase"]["done"] == "zero_grad"
    assert frame["phase"]["zero_grad_skipped"] and frame["phase"]["skip_zero_grad"]
    assert all(layer["weight_grads"] is not None for layer in frame["layers"])


def test_the_page_gets_the_code_and_the_graph_once_and_again_when_they_change(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        first = hello(ws)
        code, graph = first["code"], first["autograd"]
        assert code["source"].splitlines()[code["phase_lines"]["backward"] - 1].strip() == (
            "loss.backward()"
        )
        names = {n["name"] for n in graph["nodes"]}
        assert {"AddmmBackward0", "TanhBackward0", "AccumulateGrad"} <= names

        ws.send_text(json.dumps({"type": "control", "action": "play"}))
        seen = []
        for _ in range(40):
            message = strict_loads(ws.receive_text())
            seen.append(message["type"])
        assert seen.count("frame") >= 20
        assert "autograd" not in seen and "code" not in seen

        ws.send_text(json.dumps({"type": "set", "activation": "relu"}))
        latest: dict[str, dict[str, Any]] = {}
        while not {"autograd", "code"} <= set(latest):
            message = strict_loads(ws.receive_text())
            latest[message["type"]] = message
        assert "ReluBackward0" in {n["name"] for n in latest["autograd"]["nodes"]}
        assert "nn.ReLU()" in latest["code"]["source"]
        ws.send_text(json.dumps({"type": "control", "action": "pause"}))
        receive_until(ws, "frame")


def test_a_phase_torch_refuses_is_an_error_and_the_session_goes_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Freezing every layer (the natural way to make backward fail) is refused up front now,
    # so torch's refusal is simulated: the server runs in this process.
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        for _ in range(3):
            control(ws, "step_phase")

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("element 0 of tensors does not require grad")

        monkeypatch.setattr(torch.Tensor, "backward", refuse)
        ws.send_text(json.dumps({"type": "control", "action": "step_phase"}))
        error = receive_until(ws, "error")
        assert "backward failed" in error["message"]
        assert receive_until(ws, "frame")["phase"] is None, "the half-done step is dropped"
        monkeypatch.undo()
        assert control(ws, "step_phase")["phase"]["done"] == "zero_grad"
