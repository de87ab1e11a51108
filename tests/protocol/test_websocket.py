"""The websocket protocol through Starlette's TestClient: every message, every refusal."""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.protocol import (
    ConfigureRequest,
    ControlRequest,
    CurvatureRequest,
    DrawnPoint,
    EdgeRef,
    EditPointsRequest,
    EditWeightRequest,
    HelloRequest,
    HiddenSpaceRequest,
    InspectRequest,
    OpenSweepCellRequest,
    PointLocation,
    RaceEntry,
    RaceRequest,
    RewindRequest,
    SampleRequest,
    SetRequest,
    SurfaceRequest,
    SweepRequest,
    SwitchNeuronRequest,
    client_message_adapter,
    message_types,
    room,
    server_message_adapter,
)
from app.realtime.fanout import Pages
from app.settings import Settings
from app.training.config import DataConfig, LabConfig, ModelConfig

from .helpers import receive_frames_until_status, receive_until, strict_loads


def hello(ws, **fields) -> dict:  # type: ignore[no-untyped-def]
    ws.send_text(json.dumps({"type": "hello", **fields}))
    session = receive_until(ws, "session")
    receive_until(ws, "frame")
    return session


EXAMPLES = [
    HelloRequest(type="hello", session_id="abc", config=LabConfig()),
    ConfigureRequest(
        type="configure",
        data=DataConfig(dataset="spiral", noise=0.2),
        model=ModelConfig(hidden_layers=[8, 8, 3], activation="relu"),
    ),
    SetRequest(type="set", learning_rate=0.1, activation="sigmoid", optimizer="adam", batch_size=5),
    ControlRequest(type="control", action="step"),
    SurfaceRequest(type="surface", mode="pca", resolution=21, span=0.5, follow_every_steps=10),
    EditPointsRequest(
        type="edit_points",
        add=[DrawnPoint(x1=1.5, x2=-2.0, label=1.0)],
        remove=[PointLocation(x1=0.25, x2=3.0)],
    ),
    InspectRequest(type="inspect", x1=-1.0, x2=2.5),
    RewindRequest(type="rewind", step=0),
    SampleRequest(type="sample", index=3, weight=EdgeRef(layer=1, out_neuron=0, in_neuron=2)),
    RaceRequest(
        type="race",
        entries=[RaceEntry(optimizer="sgd", learning_rate=0.1, momentum=0.9)],
        steps=50,
    ),
    CurvatureRequest(type="curvature", every_steps=10),
    HiddenSpaceRequest(type="hidden_space", layer=1, neurons=[0, 1], follow=False),
    EditWeightRequest(type="edit_weight", layer=0, out_neuron=1, in_neuron=0, value=0.5),
    SwitchNeuronRequest(type="switch_neuron", layer=0, neuron=2, on=False),
    SweepRequest(type="sweep", action="stop"),
    OpenSweepCellRequest(type="open_sweep_cell", index=3),
]
# Class room messages (app/protocol/room.py).
EXAMPLES += [
    room.RoomJoinRequest(type="room_join", code="ABC234", token="t" * 22),
    room.RoomTeachRequest(type="room_teach", code="ABC234", secret="s" * 32),
    room.RoomPushRequest(type="room_push", challenge="xor-without-product", hide=["optimizer"]),
    room.RoomLockRequest(type="room_lock", locked=True),
    room.RoomSpotlightRequest(type="room_spotlight", student="abc"),
    room.RoomResetRequest(type="room_reset"),
    room.RoomWatchRequest(type="room_watch", student=None),
]


def test_the_examples_cover_every_client_message_type() -> None:
    assert {e.type for e in EXAMPLES} == message_types(client_message_adapter)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_every_client_message_round_trips_through_json(message) -> None:  # type: ignore[no-untyped-def]
    assert client_message_adapter.validate_json(message.model_dump_json()) == message


def test_healthz_and_schema_answer(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    schema = client.get("/api/schema").json()
    served_client = set(schema["client"]["discriminator"]["mapping"])
    served_server = set(schema["server"]["discriminator"]["mapping"])
    assert served_client == message_types(client_message_adapter)
    assert served_server == message_types(server_message_adapter)
    # The foundation's messages are always there, whatever later features add.
    assert {"hello", "configure", "set", "control"} <= served_client
    assert {"session", "data", "frame", "error"} <= served_server


def test_hello_starts_a_session_with_limits_data_and_a_first_frame(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "hello"}))
        session = receive_until(ws, "session")
        assert session["limits"]["max_hidden_layers"] == 6
        assert session["config"]["model"]["hidden_layers"] == [4, 2]
        data = receive_until(ws, "data")
        assert len(data["train"]) == 250 and len(data["test"]) == 250
        frame = receive_until(ws, "frame")
        assert frame["step"] == 0 and frame["status"] == "idle"
        assert [len(layer["biases"]) for layer in frame["layers"]] == [4, 2, 1]


def test_each_message_type_is_applied(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        ws.send_text(json.dumps({"type": "control", "action": "step"}))
        assert receive_until(ws, "frame")["step"] == 1
        ws.send_text(json.dumps({"type": "set", "learning_rate": 0.3, "activation": "relu"}))
        frame = receive_until(ws, "frame")
        assert frame["learning_rate"] == 0.3 and frame["activations"] == ["relu", "relu"]
        assert frame["step"] == 1, "a live knob keeps the run"
        ws.send_text(json.dumps({"type": "configure", "model": {"hidden_layers": [3, 3, 3]}}))
        frame = receive_until(ws, "frame")
        assert frame["step"] == 0 and [len(x["biases"]) for x in frame["layers"]] == [3, 3, 3, 1]


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("{not json", None, "malformed JSON"),
        ('{"type": "teleport"}', "type", "unknown message type"),
        ('{"learning_rate": 1}', "type", "needs a 'type'"),
        ('{"type": "set", "learning_rate": 11}', "learning_rate", "less than or equal to 10"),
        ('{"type": "set", "learning_rate": "fast"}', "learning_rate", "valid number"),
        ('{"type": "set", "learning_rat": 0.1}', "learning_rat", "Extra inputs"),
        (
            '{"type": "configure", "model": {"hidden_layers": [4, 99]}}',
            "model.hidden_layers.1",
            "16",
        ),
        (
            '{"type": "configure", "model": {"hidden_layers": [1,1,1,1,1,1,1]}}',
            "model.hidden_layers",
            "at most 6",
        ),
        ('{"type": "control", "action": "explode"}', "action", "'play'"),
        ("[1, 2, 3]", None, ""),
    ],
)
def test_bad_input_gets_an_error_frame_and_the_session_goes_on(
    client: TestClient, text: str, field: str | None, says: str
) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        ws.send_text(text)
        error = receive_until(ws, "error")
        if field is not None:
            assert error["field"] == field
        assert says in error["message"]
        ws.send_text(json.dumps({"type": "control", "action": "step"}))
        assert receive_until(ws, "frame")["step"] == 1


def test_binary_frames_are_refused_with_a_message(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        ws.send_bytes(b"\x00\x01")
        assert "binary" in receive_until(ws, "error")["message"]


def test_messages_before_hello_are_answered(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "control", "action": "play"}))
        assert "hello" in receive_until(ws, "error")["message"]


def test_a_learning_rate_of_ten_never_puts_nan_on_the_wire(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        ws.send_text(json.dumps({"type": "set", "learning_rate": 10, "activation": "linear"}))
        ws.send_text(json.dumps({"type": "control", "action": "play"}))
        frames = receive_frames_until_status(ws, "diverged")  # refuses NaN/Infinity
        assert frames[-1]["step"] < 50
        assert "Lower the learning rate" in frames[-1]["message"]
        # A loss can spike before the verdict (that spike is the evidence), but it stays a number.
        losses = [f["train_loss"] for f in frames if f["train_loss"] is not None]
        assert losses and all(math.isfinite(loss) for loss in losses)


def test_sigmoid_at_learning_rate_ten_is_reported_as_diverged(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        ws.send_text(json.dumps({"type": "set", "learning_rate": 10, "activation": "sigmoid"}))
        ws.send_text(json.dumps({"type": "control", "action": "play"}))
        frames = receive_frames_until_status(ws, "diverged")
        assert "rose above twice" in frames[-1]["message"]


def test_a_failure_building_a_page_s_messages_closes_its_socket_and_the_run_resumes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = hello(ws)["session_id"]
        ws.send_text(json.dumps({"type": "control", "action": "step"}))
        assert receive_until(ws, "frame")["step"] == 1

        def broken(self: Pages, subscriber: object) -> list[str]:
            raise RuntimeError("a bug in rendering")

        # Connected but dark would be worse: the page is closed on, and it reconnects.
        with monkeypatch.context() as patch:
            patch.setattr(Pages, "render", broken)
            ws.send_text(json.dumps({"type": "control", "action": "step"}))
            with pytest.raises(WebSocketDisconnect) as closed:
                for _ in range(100):
                    ws.receive_text()
        assert closed.value.code == 1011
    with client.websocket_connect("/ws") as ws:
        assert hello(ws, session_id=session_id)["resumed"] is True
        ws.send_text(json.dumps({"type": "control", "action": "step"}))
        assert receive_until(ws, "frame")["step"] == 3


def test_a_reconnecting_page_resumes_the_same_run(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        session_id = hello(ws)["session_id"]
        for _ in range(3):
            ws.send_text(json.dumps({"type": "control", "action": "step"}))
        while receive_until(ws, "frame")["step"] < 3:
            pass
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "hello", "session_id": session_id}))
        session = receive_until(ws, "session")
        assert session["resumed"] is True and session["session_id"] == session_id
        frame = receive_until(ws, "frame")
        assert frame["step"] == 3
        assert frame["losses_reset"] is True and [p["step"] for p in frame["losses"]] == [
            0,
            1,
            2,
            3,
        ]


def test_an_unknown_session_id_starts_a_new_session(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "hello", "session_id": "gone"}))
        session = receive_until(ws, "session")
        assert session["resumed"] is False and session["session_id"] != "gone"


def test_a_page_from_another_site_cannot_open_the_socket(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws,
    ):
        ws.receive_text()
    assert closed.value.code == 1008


def test_the_page_own_origin_may_open_the_socket(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
        assert hello(ws)["type"] == "session"


def test_an_oversized_message_closes_with_1009_and_the_server_goes_on() -> None:
    with TestClient(create_app(Settings(max_message_bytes=2048))) as client:
        with client.websocket_connect("/ws") as ws:
            hello(ws)
            ws.send_text(json.dumps({"type": "set", "pad": "x" * 5000}))
            with pytest.raises(WebSocketDisconnect) as closed:
                for _ in range(100):
                    ws.receive_text()
            assert closed.value.code == 1009
        with client.websocket_connect("/ws") as ws:
            assert hello(ws)["type"] == "session"


def test_too_many_messages_are_dropped_with_an_error() -> None:
    with (
        TestClient(create_app(Settings(max_messages_per_second=5))) as client,
        client.websocket_connect("/ws") as ws,
    ):
        hello(ws)
        for _ in range(20):
            ws.send_text(json.dumps({"type": "set", "learning_rate": 0.1}))
        assert "too many messages" in receive_until(ws, "error")["message"]


def test_beyond_the_session_limit_a_visitor_is_told_the_server_is_busy() -> None:
    with (
        TestClient(create_app(Settings(max_sessions=1))) as client,
        client.websocket_connect("/ws") as first,
    ):
        hello(first)
        with client.websocket_connect("/ws") as second:
            second.send_text(json.dumps({"type": "hello"}))
            assert "server busy" in strict_loads(second.receive_text())["message"]
        first.send_text(json.dumps({"type": "control", "action": "step"}))
        assert receive_until(first, "frame")["step"] == 1


def test_the_page_carries_security_headers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_freezing_every_layer_is_refused_and_the_run_goes_on(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello(ws)
        ws.send_text(json.dumps({"type": "set", "frozen_layers": [0, 1, 2]}))
        error = receive_until(ws, "error")
        assert error["field"] == "frozen_layers"
        assert "at least one layer must stay trainable" in error["message"]
        ws.send_text(json.dumps({"type": "control", "action": "step"}))
        assert receive_until(ws, "frame")["step"] == 1
