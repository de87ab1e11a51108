"""The digits lab's websocket, driven the way its page drives it."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app import limits
from app.main import create_app
from app.protocol.images import image_server_adapter
from app.settings import Settings
from app.store.keys import new_session_id
from app.training.images.config import ImageLabConfig
from app.training.images.run import ImageRun
from tests.protocol.helpers import strict_loads


def receive(ws: WebSocketTestSession, kind: str) -> dict[str, Any]:
    """The next message of `kind`, checked against the server union (frames may come first)."""
    for _ in range(500):
        text = ws.receive_text()
        image_server_adapter.validate_json(text)
        message = strict_loads(text)
        if message["type"] == kind:
            return message
        passing = ("image_frame", "image_session", "code", "autograd", "image_runs")
        assert message["type"] in passing, message
    raise AssertionError(f"no {kind} message")


def control(ws: WebSocketTestSession, action: str) -> None:
    ws.send_json({"type": "image_control", "action": action})


def test_a_page_opens_a_cnn_on_the_digits_and_steps_it(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        info = receive(ws, "image_session")
        assert [s["name"] for s in info["stages"]][:3] == ["conv1", "act1", "pool1"]
        assert info["stages"][0]["module"] == "Conv2d" and info["stages"][0]["shape"] == [8, 8, 8]
        assert info["n_train"] + info["n_test"] == 1797
        first = receive(ws, "image_frame")
        assert first["step"] == 0 and first["status"] == "paused"
        assert sum(map(sum, first["confusion"])) == info["n_test"]
        assert first["filters"]["count"] == 8 and first["filters"]["side"] == 3
        control(ws, "step")
        stepped = receive(ws, "image_frame")
        assert stepped["step"] == 1
        assert any(g != 0 for g in stepped["filters"]["grads"])


def test_play_trains_until_paused_and_the_accuracy_climbs(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        control(ws, "play")
        accuracy, step = 0.0, 0
        for _ in range(400):
            frame = receive(ws, "image_frame")
            assert frame["step"] >= step and frame["status"] == "running"
            assert len(frame["train_losses"]) == frame["step"] - step
            accuracy, step = frame["test_accuracy"], frame["step"]
            if accuracy >= 0.9:
                break
        assert accuracy >= 0.9
        control(ws, "pause")
        paused = receive(ws, "image_frame")
        while paused["status"] != "paused":
            paused = receive(ws, "image_frame")
        control(ws, "step")
        assert receive(ws, "image_frame")["step"] == paused["step"] + 1


def test_a_learning_rate_change_keeps_the_run_and_a_model_change_rebuilds_it(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        info = receive(ws, "image_session")
        receive(ws, "image_frame")
        for _ in range(3):
            control(ws, "step")
            receive(ws, "image_frame")
        config = info["config"]
        config["training"]["learning_rate"] = 0.002
        ws.send_json({"type": "image_configure", "config": config})
        kept = receive(ws, "image_frame")
        assert kept["step"] == 3 and kept["learning_rate"] == 0.002
        config["model"] = {"conv_blocks": [], "hidden_layers": [32], "dropout": 0.2}
        ws.send_json({"type": "image_configure", "config": config})
        rebuilt = receive(ws, "image_session")
        assert [s["module"] for s in rebuilt["stages"]] == [
            "Flatten",
            "DenseBlock",
            "Dropout",
            "Linear",
        ]
        frame = receive(ws, "image_frame")
        assert frame["step"] == 0 and frame["filters"]["side"] == 8


def test_a_drawing_and_a_test_image_are_inspected_layer_by_layer(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        pixels = [0.0] * 64
        for row in range(1, 7):
            pixels[row * 8 + 4] = 1.0  # a stroke down the middle: a 1
        ws.send_json({"type": "image_inspect", "pixels": pixels})
        drawn = receive(ws, "image_inspection")
        assert drawn["label"] is None and drawn["pixels"] == pixels
        assert abs(sum(drawn["probabilities"]) - 1) < 1e-4 and len(drawn["saliency"]) == 64
        maps = {s["name"]: s for s in drawn["stages"]}
        assert maps["conv1"]["shape"] == [8, 8, 8] and len(maps["conv1"]["values"]) == 512
        ws.send_json({"type": "image_inspect", "test_index": 5, "target": 2})
        chosen = receive(ws, "image_inspection")
        assert chosen["label"] in range(10) and chosen["target"] == 2


def test_a_confusion_cell_lists_its_images(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        frame = receive(ws, "image_frame")
        confusion = frame["confusion"]
        true, predicted = max(
            ((t, p) for t in range(10) for p in range(10)), key=lambda c: confusion[c[0]][c[1]]
        )
        ws.send_json({"type": "image_cell", "true_class": true, "predicted_class": predicted})
        cell = receive(ws, "image_cell")
        assert cell["total"] == confusion[true][predicted]
        assert len(cell["images"]) == min(60, cell["total"])
        assert all(len(image["pixels"]) == 64 for image in cell["images"])


def test_bad_messages_get_an_error_and_the_run_goes_on(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        ws.send_text("{not json")
        assert "malformed JSON" in receive(ws, "error")["message"]
        ws.send_json({"type": "image_inspect", "pixels": [2.0] * 64})
        assert receive(ws, "error")["field"].startswith("pixels")
        ws.send_json({"type": "image_inspect", "test_index": 99999})
        assert "test images" in receive(ws, "error")["message"]
        blocks = [{"kernel_size": 5, "padding": False}, {}, {}]
        ws.send_json({"type": "image_configure", "config": {"model": {"conv_blocks": blocks}}})
        assert "conv block 3" in receive(ws, "error")["message"]
        control(ws, "step")
        assert receive(ws, "image_frame")["step"] == 1


def test_a_learning_rate_that_blows_up_stops_the_run_with_valid_json(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        info = receive(ws, "image_session")
        config = info["config"]
        # Measured: this MLP's loss is NaN by its 9th step.
        config["training"] = {"optimizer": "sgd", "learning_rate": 10.0, "momentum": 0.9}
        config["model"] = {"conv_blocks": [], "hidden_layers": [64, 64], "activation": "elu"}
        ws.send_json({"type": "image_configure", "config": config})
        receive(ws, "image_frame")
        control(ws, "play")
        for _ in range(400):
            frame = receive(ws, "image_frame")  # strict JSON: a NaN would fail here
            if frame["status"] == "diverged":
                break
        assert frame["status"] == "diverged"
        assert frame["train_losses"][-1] is None  # NaN went out as null
        assert all(value is not None for value in frame["filters"]["weights"])  # last finite
        control(ws, "step")  # the page can still ask: the answer is valid JSON too
        assert receive(ws, "image_frame")["status"] == "diverged"


def test_adam_at_rate_10_diverges_by_its_loss_which_never_stops_being_a_number(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        config = receive(ws, "image_session")["config"]
        config["training"]["learning_rate"] = 10.0  # Adam's steps are bounded: no inf, no NaN
        ws.send_json({"type": "image_configure", "config": config})
        receive(ws, "image_frame")
        control(ws, "play")
        frame = receive(ws, "image_frame")
        while frame["status"] == "paused":  # the change's own frame may come first
            frame = receive(ws, "image_frame")
        losses: list[float] = frame["train_losses"]
        for _ in range(400):
            if frame["status"] != "running":
                break
            frame = receive(ws, "image_frame")
            losses += frame["train_losses"]
        assert frame["status"] == "diverged"
        assert (
            "averaged" in frame["diverged_reason"] and "over 20 steps" in frame["diverged_reason"]
        )
        assert all(loss is not None for loss in losses) and sum(losses[-20:]) / 20 > 4.6


def test_phase_by_phase_the_loop_s_lines_and_the_autograd_graph_follow(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        code = receive(ws, "code")
        assert "output = model(x)" in code["source"]
        receive(ws, "image_frame")
        done = []
        for _ in range(5):
            control(ws, "step_phase")
            if len(done) in (2, 3):  # after the loss and the backward phases
                graph = receive(ws, "autograd")
                names = {node["name"] for node in graph["nodes"]}
                assert {"ConvolutionBackward0", "MaxPool2DWithIndicesBackward0"} <= names
                assert graph["has_gradients"] == (len(done) == 3)
            frame = receive(ws, "image_frame")
            done.append(frame["phase"]["done"])
        assert done == ["zero_grad", "forward", "loss", "backward", "step"]
        assert frame["step"] == 1 and frame["phase"]["next"] == "zero_grad"


def test_one_sample_by_hand_checks_a_filter_weight(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        control(ws, "step")
        receive(ws, "image_frame")
        ws.send_json({"type": "image_sample", "sample": 4, "unit": 2, "row": 1, "col": 0})
        check = receive(ws, "image_sample_check")
        assert check["weight"] == "conv1.weight[2, 0, 1, 0]"
        assert abs(check["autograd"] - check["numeric"]) <= 1e-3 * abs(check["numeric"]) + 1e-6
        ws.send_json({"type": "image_sample", "sample": 4, "unit": 8, "row": 1, "col": 0})
        assert "8 filters of 3×3" in receive(ws, "error")["message"]


def test_gradient_health_names_the_image_model_s_layers(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        assert receive(ws, "image_frame")["gradients"] == []
        control(ws, "step")
        frame = receive(ws, "image_frame")
        names = [layer["name"] for layer in frame["gradients"]]
        assert names == ["conv1", "conv2", "output"]
        reference = ImageRun(ImageLabConfig())
        reference.step()
        for layer, (_, weight) in zip(frame["gradients"], reference.weight_layers(), strict=True):
            assert weight.grad is not None
            assert layer["grad_norm"] == pytest.approx(float(weight.grad.norm()), rel=1e-5)
        config = receive_config(ws)
        config["training"] = {"optimizer": "sgd", "learning_rate": 5.0}
        ws.send_json({"type": "image_configure", "config": config})
        control(ws, "step")
        frame = receive(ws, "image_frame")
        while frame["step"] != 1:
            frame = receive(ws, "image_frame")
        flags = frame["gradient_flags"]
        assert any(flag.startswith("large updates") and "conv1" in flag for flag in flags), flags


def receive_config(ws: WebSocketTestSession) -> dict[str, Any]:
    ws.send_json({"type": "image_control", "action": "reset"})
    config: dict[str, Any] = receive(ws, "image_session")["config"]
    return config


def test_a_saved_model_file_loads_back_with_its_settings_weights_and_step(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        config = receive(ws, "image_session")["config"]
        config["model"]["hidden_layers"] = [12]
        ws.send_json({"type": "image_configure", "config": config})
        receive(ws, "image_session")
        for _ in range(3):
            control(ws, "step")
        frame = receive(ws, "image_frame")
        while frame["step"] != 3:
            frame = receive(ws, "image_frame")
        ws.send_json({"type": "image_save"})
        saved = receive(ws, "image_model_file")
        assert saved["filename"] == "digits-step3.pt"
        control(ws, "reset")
        assert receive(ws, "image_frame")["step"] == 0
        ws.send_json({"type": "image_load", "data": saved["data"]})
        loaded = receive(ws, "image_session")
        assert loaded["config"]["model"]["hidden_layers"] == [12]
        again = receive(ws, "image_frame")
        assert again["step"] == 3 and again["filters"]["weights"] == frame["filters"]["weights"]
        assert again["test_loss"] == frame["test_loss"]
        ws.send_json({"type": "image_load", "data": "bm90IGEgdG9yY2ggZmlsZQ=="})
        assert "not a model file" in receive(ws, "error")["message"]
        control(ws, "step")
        assert receive(ws, "image_frame")["step"] == 4


def test_a_model_file_at_the_size_limit_arrives_and_gets_a_clear_answer(
    client: TestClient,
) -> None:
    too_big = base64.b64encode(bytes(limits.MAX_CHECKPOINT_BYTES)).decode()
    assert len(json.dumps({"type": "image_load", "data": too_big})) > 256 * 1024
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        ws.send_json({"type": "image_load", "data": too_big})
        assert "not a model file" in receive(ws, "error")["message"]
        ws.send_json({"type": "image_load", "data": too_big + "AAAA"})
        assert "data" in (receive(ws, "error").get("field") or "")
        control(ws, "step")  # the socket stayed open and the run goes on
        assert receive(ws, "image_frame")["step"] == 1


def test_a_page_that_reconnects_gets_its_run_back_as_it_was(client: TestClient) -> None:
    run_id = new_session_id()  # the page chooses its run's id (a balancer's affinity key)
    with client.websocket_connect(f"/ws/images?session={run_id}") as ws:
        info = receive(ws, "image_session")
        assert (info["run_id"], info["resumed"]) == (run_id, False)
        for _ in range(3):
            control(ws, "step")
        frame = receive(ws, "image_frame")
        while frame["step"] != 3:
            frame = receive(ws, "image_frame")
    book = client.app.state.image_runs  # type: ignore[attr-defined]
    with client.websocket_connect(f"/ws/images?session={run_id}") as ws:
        info = receive(ws, "image_session")
        assert (info["run_id"], info["resumed"]) == (run_id, True)
        again = receive(ws, "image_frame")
        assert again["step"] == 3 and again["status"] == "paused"
        assert again["filters"] == frame["filters"] and again["test_loss"] == frame["test_loss"]
        control(ws, "step")
        assert receive(ws, "image_frame")["step"] == 4
        # While this page has the run, another asking for it gets a run of its own.
        with client.websocket_connect(f"/ws/images?session={run_id}") as other:
            info = receive(other, "image_session")
            assert info["run_id"] != run_id and not info["resumed"]
            assert receive(other, "image_frame")["step"] == 0
    assert book.kept() == 2
    with client.websocket_connect("/ws/images?session=not/a/token") as ws:
        info = receive(ws, "image_session")
        assert info["run_id"] != run_id and not info["resumed"]


def step_to(ws: WebSocketTestSession, start: int, steps: int) -> dict[str, Any]:
    """Step from step `start` to step `steps`; that frame."""
    for _ in range(steps - start):
        control(ws, "step")
    frame = receive(ws, "image_frame")
    while frame["step"] != steps:
        frame = receive(ws, "image_frame")
    return frame


def test_a_run_outlives_the_memory_s_time_to_live_and_a_restart_in_the_store(
    tmp_path: Path,
) -> None:
    settings = Settings(max_messages_per_second=1000, session_ttl_seconds=0.2, data_dir=tmp_path)
    run_id = new_session_id()
    with TestClient(create_app(settings)) as client:
        with client.websocket_connect(f"/ws/images?session={run_id}") as ws:
            receive(ws, "image_session")
            ws.send_json({"type": "image_configure", "config": DROPOUT_BATCHNORM.model_dump()})
            receive(ws, "image_session")
            frame = step_to(ws, 0, 4)
        book = client.app.state.image_runs  # type: ignore[attr-defined]
        for _ in range(600):  # the timer runs on the server's loop: wait for it, not a clock
            if run_id not in book:
                break
            time.sleep(0.05)
        assert run_id not in book
        with client.websocket_connect(f"/ws/images?session={run_id}") as ws:
            assert receive(ws, "image_session")["resumed"] is True  # from the store
            again = receive(ws, "image_frame")
            # The weights as they were (the last gradients are not kept: the next step's come).
            assert again["step"] == 4
            assert again["filters"]["weights"] == frame["filters"]["weights"]
            after = step_to(ws, 4, 6)
    # A new server on the same store: the run goes on as the first would have.
    reference = ImageRun(DROPOUT_BATCHNORM)
    reference.train(6)
    with (
        TestClient(create_app(settings)) as client,
        client.websocket_connect(f"/ws/images?session={run_id}") as ws,
    ):
        info = receive(ws, "image_session")
        assert info["resumed"] is True and info["config"]["model"]["dropout"] == 0.3
        restored = receive(ws, "image_frame")
    assert restored["step"] == 6
    assert restored["filters"]["weights"] == after["filters"]["weights"]
    expected = reference.filters().weights.flatten().tolist()
    assert restored["filters"]["weights"] == pytest.approx(expected, abs=1e-6)  # as sent: rounded


DROPOUT_BATCHNORM = ImageLabConfig.model_validate(
    {"model": {"conv_blocks": [], "hidden_layers": [16], "dropout": 0.3, "batchnorm": True}}
)


def step_frames(ws: WebSocketTestSession, steps: int) -> list[dict[str, Any]]:
    frames = []
    for _ in range(steps):
        control(ws, "step")
        frames.append(receive(ws, "image_frame"))
    return frames


def test_a_rewind_shows_the_kept_step_and_training_on_replays_it_as_a_branch(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        assert [r["name"] for r in receive(ws, "image_runs")["runs"]] == ["run 1"]
        assert receive(ws, "image_frame")["timeline"]["steps"] == []
        first = step_frames(ws, 3)
        assert first[-1]["timeline"]["steps"] == [0, 1, 2]  # the present is kept on leaving it
        ws.send_json({"type": "image_rewind", "step": 1})
        rewound = receive(ws, "image_rewound")
        assert rewound["step"] == 1 and rewound["curve_steps"] == [1, 2, 3]
        assert rewound["config"]["training"]["learning_rate"] == 0.01
        shown = receive(ws, "image_frame")
        assert shown["step"] == 1 and shown["status"] == "paused"
        assert shown["timeline"]["steps"] == [0, 1, 2, 3]
        assert shown["filters"]["weights"] == first[0]["filters"]["weights"]

        control(ws, "step")
        runs = receive(ws, "image_runs")["runs"]
        assert [(r["name"], r["current"]) for r in runs] == [
            ("run 1", False),
            ("from step 1: same settings", True),
        ]
        replayed = receive(ws, "image_frame")
        assert replayed["step"] == 2
        assert replayed["filters"]["weights"] == first[1]["filters"]["weights"]
        assert replayed["train_losses"] == first[1]["train_losses"]
        assert replayed["timeline"]["steps"] == [0, 1]  # the run left behind is out of reach


def test_a_rewind_while_playing_stops_the_play_and_a_changed_rate_names_the_branch(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        info = receive(ws, "image_session")
        control(ws, "play")
        frame = receive(ws, "image_frame")
        while frame["step"] < 25:
            frame = receive(ws, "image_frame")
        ws.send_json({"type": "image_rewind", "step": 0})
        assert receive(ws, "image_rewound")["step"] == 0
        shown = receive(ws, "image_frame")
        while shown["step"] != 0:  # a burst's frame may have been on its way
            shown = receive(ws, "image_frame")
        assert shown["status"] == "paused"
        config = info["config"]
        config["training"]["learning_rate"] = 0.05
        ws.send_json({"type": "image_configure", "config": config})
        assert receive(ws, "image_frame")["step"] == 0
        control(ws, "step")
        runs = receive(ws, "image_runs")["runs"]
        assert runs[-1]["name"] == "from step 0: learning_rate 0.01 → 0.05"
        assert runs[-1]["parent"] == runs[0]["id"] and runs[-1]["branch_step"] == 0
        assert receive(ws, "image_frame")["status"] == "paused"


def test_a_rewind_to_a_step_never_kept_gets_an_error_and_the_run_goes_on(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "image_frame")
        step_frames(ws, 2)
        ws.send_json({"type": "image_rewind", "step": 7})
        error = receive(ws, "error")
        assert error["field"] == "step" and "step 7 is not kept" in error["message"]
        ws.send_json({"type": "image_rewind", "step": -1})
        assert receive(ws, "error")["field"] == "step"
        assert step_frames(ws, 1)[0]["step"] == 3


def test_a_diverged_run_rewound_and_slowed_down_trains_on_as_a_branch(client: TestClient) -> None:
    with client.websocket_connect("/ws/images") as ws:
        config = receive(ws, "image_session")["config"]
        # As above: NaN by its 9th step.
        config["training"] = {"optimizer": "sgd", "learning_rate": 10.0, "momentum": 0.9}
        config["model"] = {"conv_blocks": [], "hidden_layers": [64, 64], "activation": "elu"}
        ws.send_json({"type": "image_configure", "config": config})
        frame = receive(ws, "image_frame")
        while frame["status"] != "diverged":
            control(ws, "step")
            frame = receive(ws, "image_frame")
        ws.send_json({"type": "image_rewind", "step": 2})
        rewound = receive(ws, "image_rewound")  # strict JSON: the NaN loss went out as null
        assert (
            rewound["curve_losses"][-1] is None and rewound["curve_steps"][-1] == frame["step"] + 1
        )
        assert receive(ws, "image_frame")["status"] == "paused"
        config["training"]["learning_rate"] = 0.01
        ws.send_json({"type": "image_configure", "config": config})
        receive(ws, "image_frame")
        control(ws, "step")
        assert (
            receive(ws, "image_runs")["runs"][-1]["name"] == "from step 2: learning_rate 10 → 0.01"
        )
        stepped = receive(ws, "image_frame")
        assert stepped["status"] == "paused" and stepped["step"] == 3
        assert stepped["train_losses"][0] is not None
