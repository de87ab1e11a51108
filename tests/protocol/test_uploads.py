"""Model files and CSV points over HTTP, drawn points and hover inspection over the websocket."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from app import limits
from app.http_api import read_body
from app.training.checkpoints import load_checkpoint
from app.training.session import TrainingSession

from .helpers import receive_until, send


def start(ws: Any) -> str:
    send(ws, type="hello")
    session_id = str(receive_until(ws, "session")["session_id"])
    receive_until(ws, "frame")
    return session_id


def engine(client: TestClient, session_id: str) -> TrainingSession:
    return client.app.state.registry.sessions[session_id].engine  # type: ignore[attr-defined]


def parameters(session: TrainingSession) -> list[torch.Tensor]:
    return [p.detach().clone() for p in session.model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def step(ws: Any, times: int) -> dict[str, Any]:
    for _ in range(times):
        send(ws, type="control", action="step")
    frame = receive_until(ws, "frame")
    while frame["status"] != "paused" or frame["step"] % times:
        frame = receive_until(ws, "frame")
    return frame


# ---- model files ---------------------------------------------------------------------------


def test_a_downloaded_model_file_loads_back_and_brings_its_weights_and_loss(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        saved = step(ws, 5)
        response = client.get(f"/api/sessions/{session_id}/checkpoint")
        assert response.status_code == 200
        assert 'filename="backprop-lab-step-5.pt"' in response.headers["content-disposition"]
        config, _, _ = load_checkpoint(response.content)
        assert config == engine(client, session_id).config
        step(ws, 5)
        loaded = client.post(f"/api/sessions/{session_id}/checkpoint", content=response.content)
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["config"] == json.loads(config.model_dump_json())
        frame = receive_until(ws, "frame")
        assert frame["step"] == 0 and frame["status"] == "idle"
        assert [layer["weights"] for layer in frame["layers"]] == [
            layer["weights"] for layer in saved["layers"]
        ]
        assert frame["train_loss"] == pytest.approx(saved["train_loss"], abs=1e-7)


def bad_upload(client: TestClient, session_id: str, raw: bytes, status: int, message: str) -> None:
    before = parameters(engine(client, session_id))
    response = client.post(f"/api/sessions/{session_id}/checkpoint", content=raw)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert same(parameters(engine(client, session_id)), before)


def test_a_bad_or_foreign_model_file_is_refused_with_a_reason_and_changes_nothing(
    client: TestClient,
) -> None:
    foreign = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, foreign)
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        step(ws, 3)
        bad_upload(client, session_id, b"garbage", 400, "not a PyTorch weights file")
        bad_upload(client, session_id, foreign.getvalue(), 400, "not a Backprop Lab checkpoint")
        assert engine(client, session_id).step_count == 3


def test_a_pickle_that_would_run_code_is_refused_without_running(
    client: TestClient, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"

    class TouchesAFile:
        def __reduce__(self) -> tuple[object, tuple[Path]]:
            return (Path.touch, (marker,))

    payload = io.BytesIO()
    torch.save({"format": "backprop-lab-checkpoint/1", "evil": TouchesAFile()}, payload)
    # The payload is live: an ordinary torch.load would run it.
    torch.load(io.BytesIO(payload.getvalue()), weights_only=False)
    assert marker.exists()
    marker.unlink()
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        bad_upload(client, session_id, payload.getvalue(), 400, "not a PyTorch weights file")
    assert not marker.exists(), "the upload ran code"


def test_an_upload_over_the_size_limit_is_refused(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        over = b"x" * (limits.MAX_CHECKPOINT_BYTES + 1)
        bad_upload(client, session_id, over, 413, "larger than")
        csv = client.post(f"/api/sessions/{session_id}/points", content=b"0" * 100_001)
        assert csv.status_code == 413


def test_a_body_without_a_length_is_read_only_up_to_the_limit() -> None:
    chunks_read = 0

    async def receive() -> dict[str, object]:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": chunks_read < 1000}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(HTTPException) as refused:
        asyncio.run(read_body(request, max_bytes=10 * 1024))
    assert refused.value.status_code == 413
    assert chunks_read == 11


def test_an_unknown_session_or_a_foreign_origin_gets_nothing(client: TestClient) -> None:
    assert client.get("/api/sessions/nope/checkpoint").status_code == 404
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        response = client.post(
            f"/api/sessions/{session_id}/points",
            content=b"0,0,1\n1,1,0\n",
            headers={"origin": "https://evil.example"},
        )
        assert response.status_code == 403


# ---- CSV points ----------------------------------------------------------------------------


def test_a_good_csv_replaces_the_points_and_rebuilds_the_run(client: TestClient) -> None:
    rows = "x1,x2,label\n" + "\n".join(f"{i / 4},{-i / 4},{i % 2}" for i in range(20))
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        step(ws, 3)
        response = client.post(f"/api/sessions/{session_id}/points", content=rows.encode())
        assert response.status_code == 200, response.text
        assert response.json() == {"train_points": 10, "test_points": 10}
        data = receive_until(ws, "data")
        assert len(data["train"]) + len(data["test"]) == 20
        assert {(p["x1"], -p["x2"]) for p in data["train"]} <= {(i / 4, i / 4) for i in range(20)}
        assert receive_until(ws, "frame")["step"] == 0


def test_a_bad_csv_names_the_line_and_keeps_the_current_points(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        before = engine(client, session_id).data.train_x.clone()
        response = client.post(f"/api/sessions/{session_id}/points", content=b"1,2,0\n1,2,7\n")
        assert response.status_code == 400
        assert (
            response.json()["detail"] == "line 2: the label 7 is not 0 or 1 (binary classification)"
        )
        assert torch.equal(engine(client, session_id).data.train_x, before)


# ---- drawn points and hover ----------------------------------------------------------------


def test_drawn_points_join_the_data_and_training_goes_on_from_the_same_step(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        step(ws, 2)
        first = engine(client, session_id).data.test_x[0].tolist()
        send(
            ws,
            type="edit_points",
            add=[{"x1": 1.25, "x2": -2.5, "label": 1}],
            remove=[{"x1": first[0], "x2": first[1]}],
        )
        data = receive_until(ws, "data")
        assert {"x1": 1.25, "x2": -2.5, "label": 1.0} in data["train"]
        assert len(data["train"]) == 251 and len(data["test"]) == 249
        assert receive_until(ws, "frame")["step"] == 2
        send(ws, type="edit_points", add=[{"x1": 0, "x2": 0, "label": 2}])
        error = receive_until(ws, "error")
        assert error["field"] == "edit_points" and "not 0 or 1" in error["message"]
        send(ws, type="edit_points", add=[{"x1": 7, "x2": 0, "label": 1}])
        assert receive_until(ws, "error")["field"] == "add.0.x1"


def test_hovering_a_point_gets_the_models_output_and_every_neurons_activation(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws)
        send(ws, type="inspect", x1=1.5, x2=-0.5)
        inspection = receive_until(ws, "inspection")
        expected = engine(client, session_id).predict(torch.tensor([[1.5, -0.5]]))
        assert inspection["features"] == [1.5, -0.5]
        assert [len(h) for h in inspection["hidden"]] == [4, 2]
        for got, want in zip(inspection["hidden"], expected[:-1], strict=True):
            assert got == pytest.approx(want[0].tolist())
        assert inspection["output"] == pytest.approx(expected[-1][0].tolist())
        assert inspection["output"][0] == pytest.approx(
            torch.sigmoid(torch.tensor(inspection["logits"][0])).item()
        )
