"""The training toolkit over the websocket: live knobs, limits, tasks and what frames carry."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.protocol import SetRequest

from .helpers import receive_until, send, start


def frame_where(ws: Any, condition: Any, limit: int = 50) -> dict[str, Any]:
    for _ in range(limit):
        frame = receive_until(ws, "frame")
        if condition(frame):
            return frame
    raise AssertionError("no frame met the condition")


def test_every_training_knob_of_set_is_a_training_config_field() -> None:
    request = SetRequest(type="set", weight_decay=0.1, schedule="cosine", grad_clip_norm=0)
    assert request.training_changes() == {
        "weight_decay": 0.1,
        "schedule": "cosine",
        "grad_clip_norm": 0,
    }


def test_a_schedule_shows_the_effective_learning_rate_in_frames_and_history(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(
            ws,
            type="set",
            learning_rate=0.1,
            schedule="step",
            schedule_step_size=1,
            schedule_gamma=0.5,
        )
        assert receive_until(ws, "frame")["learning_rate"] == pytest.approx(0.1)
        send(ws, type="control", action="step")
        send(ws, type="control", action="step")
        frame = frame_where(ws, lambda f: f["step"] == 2)
        assert frame["learning_rate"] == pytest.approx(0.025)
        assert [p["learning_rate"] for p in frame["losses"]][-1] == pytest.approx(0.025)


def test_regularisers_put_a_separate_penalty_in_frames(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert start(ws)["train_penalty"] == 0.0
        send(
            ws,
            type="set",
            l1=0.01,
            activation_penalty="l2",
            activation_penalty_strength=0.1,
            grad_clip_norm=0.5,
        )
        receive_until(ws, "frame")
        send(ws, type="control", action="step")
        frame = frame_where(ws, lambda f: f["step"] == 1)
        assert frame["train_penalty"] > 0
        assert frame["losses"][-1]["penalty"] == pytest.approx(frame["train_penalty"])
        assert frame["grad_norm"] is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weight_decay", 5.0),
        ("l1", -0.1),
        ("grad_clip_norm", 1000.0),
        ("schedule", "cyclic"),
        ("optimizer", "lbfgs"),
        ("layer_activations", ["swish"]),
        ("frozen_layers", [99]),
    ],
)
def test_a_knob_outside_its_limits_gets_an_error_naming_it(
    client: TestClient, field: str, value: object
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", **{field: value})
        error = receive_until(ws, "error")
        assert error["field"].startswith(field)
        send(ws, type="control", action="step")
        assert frame_where(ws, lambda f: f["step"] == 1)["status"] == "paused"


def test_per_layer_activations_prelu_and_freezing_show_in_frames(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", layer_activations=["prelu", "elu"], frozen_layers=[1])
        frame = receive_until(ws, "frame")
        assert frame["activations"] == ["prelu", "elu"]
        assert frame["prelu_slopes"] == [0.25, None]
        assert frame["frozen_layers"] == [1]
        send(ws, type="control", action="step")
        frame = frame_where(ws, lambda f: f["step"] == 1)
        assert frame["layers"][1]["weight_grads"] is None
        assert frame["layers"][0]["weight_grads"] is not None
        send(ws, type="set", activation="relu")
        assert receive_until(ws, "frame")["activations"] == ["relu", "relu"]


def test_features_rebuild_the_input_layer(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        model = {"hidden_layers": [4, 2], "features": ["x1", "x2", "x1x2", "sin_x1"]}
        send(ws, type="configure", model=model)
        frame = receive_until(ws, "frame")
        assert frame["features"] == ["x1", "x2", "x1x2", "sin_x1"]
        assert len(frame["layers"][0]["weights"][0]) == 4


def test_three_blobs_send_one_probability_map_per_class(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="configure", data={"dataset": "blobs"})
        data = receive_until(ws, "data")
        assert {p["label"] for p in data["train"]} == {0.0, 1.0, 2.0}
        frame = receive_until(ws, "frame")
        assert (frame["task"], frame["loss_name"], frame["output_activation"]) == (
            "multiclass",
            "CrossEntropyLoss",
            "softmax",
        )
        assert len(frame["class_maps"]) == 3 and len(frame["neuron_maps"][-1]) == 3


def test_the_sine_is_a_regression_with_a_fitted_curve(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="configure", data={"dataset": "sine"})
        frame = receive_until(ws, "frame")
        assert (frame["task"], frame["loss_name"]) == ("regression", "MSELoss")
        assert frame["train_accuracy"] is None
        assert len(frame["curve"]) > 50 and frame["class_maps"] is None


def test_every_toolkit_control_on_the_page_sends_a_field_the_server_knows() -> None:
    import re
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "static" / "js" / "toolkit.js").read_text()
    table = re.search(r"LIVE_KNOBS = Object\.freeze\(\{(.*?)\}\)", source, re.S)
    assert table, "toolkit.js defines no LIVE_KNOBS"
    fields = set(re.findall(r':\s*"(\w+)"', table.group(1)))
    assert len(fields) == 13 and fields <= set(SetRequest.model_fields)
