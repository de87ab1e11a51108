"""Curvature, the hidden space, neuron surgery and sweeps over the websocket."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from app.training.config import LabConfig
from app.training.trainer import TrainingSession

from .helpers import receive_until, send, start


def test_a_curvature_request_gets_lambda_max_and_the_sgd_limit(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="curvature")
        curvature = receive_until(ws, "curvature")
    assert curvature["step"] == 0
    assert curvature["lambda_max"] > 0
    assert curvature["stability_limit"] == pytest.approx(2 / 0.03)


def test_adam_gets_no_stability_line(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="set", optimizer="adam")
        receive_until(ws, "settings")
        send(ws, type="curvature")
        assert receive_until(ws, "curvature")["stability_limit"] is None


def test_the_hidden_space_has_every_training_point_and_the_grid(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="hidden_space", layer=1, neurons=[0, 1], follow=False)
        space = receive_until(ws, "hidden_space")
        send(ws, type="hidden_space", layer=5, follow=False)
        error = receive_until(ws, "error")
    assert len(space["points"]) == len(space["labels"]) == 250
    assert space["width"] == 2 and len(space["grid"]) == 22
    assert error["field"] == "layer"


def test_a_weight_typed_in_and_a_neuron_switched_off_reach_every_page(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="edit_weight", layer=0, out_neuron=1, in_neuron=0, value=0.5)
        receive_until(ws, "surgery")
        frame = receive_until(ws, "frame")
        assert frame["layers"][0]["weights"][1][0] == 0.5
        send(ws, type="switch_neuron", layer=0, neuron=2, on=False)
        surgery = receive_until(ws, "surgery")
        assert surgery["switched_off"] == [[0, 2]] and surgery["edits"] == 2
        code = receive_until(ws, "code")
        assert "linears[0].weight[1, 0] = 0.5" in code["source"]
        send(ws, type="switch_neuron", layer=0, neuron=9, on=False)
        assert receive_until(ws, "error")["field"] == "neuron"


def test_a_sweep_announces_itself_then_sends_its_map(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="sweep", axis="momentum", size=3, steps=40)
        running = receive_until(ws, "sweep")
        done = receive_until(ws, "sweep")
    assert running["status"] == "running" and running["final_loss"] is None
    assert done["status"] == "done"
    assert len(done["final_loss"]) == 3 and len(done["final_loss"][0]) == 3


def test_a_sweep_cell_opens_as_a_paused_run_at_that_cells_weights(client: TestClient) -> None:
    steps, index = 30, 2  # a 2×2 grid: row 1 (momentum 0.95), column 0 (the lowest rate)
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="sweep", axis="momentum", size=2, steps=steps)
        receive_until(ws, "sweep")
        done = receive_until(ws, "sweep")
        send(ws, type="open_sweep_cell", index=index)
        settings = receive_until(ws, "settings")
        runs = receive_until(ws, "runs")  # sent before the frame that follows
        frame = receive_until(ws, "frame")
    rate, momentum = done["learning_rates"][0], done["values"][1]
    assert settings["config"]["training"]["learning_rate"] == rate
    assert settings["config"]["training"]["momentum"] == momentum
    assert frame["step"] == steps and frame["status"] != "running"
    assert frame["train_loss"] == pytest.approx(done["final_loss"][1][0], abs=1e-6)
    assert runs["runs"][-1]["name"] == f"sweep cell lr={rate:.3g}, momentum={momentum:.3g}"
    # The same cell trained on its own, step by step, ends at the same weights.
    config = LabConfig()
    training = config.training.model_copy(update={"learning_rate": rate, "momentum": momentum})
    alone = TrainingSession(config.model_copy(update={"training": training}))
    for _ in range(steps):
        alone.train_step()
    for layer, linear in zip(frame["layers"], alone.model.layers, strict=True):
        assert torch.allclose(torch.tensor(layer["weights"]), linear.weight, atol=1e-5)
        assert torch.allclose(torch.tensor(layer["biases"]), linear.bias, atol=1e-5)


def test_a_cell_is_refused_without_a_sweep_or_after_the_data_changed(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="open_sweep_cell", index=0)
        assert receive_until(ws, "error")["field"] == "index"
        send(ws, type="sweep", axis="momentum", size=2, steps=20)
        receive_until(ws, "sweep")
        receive_until(ws, "sweep")
        send(ws, type="configure", data={**LabConfig().data.model_dump(), "noise": 0.3})
        receive_until(ws, "settings")
        send(ws, type="open_sweep_cell", index=0)
        refused = receive_until(ws, "error")
        send(ws, type="open_sweep_cell", index=64)
        out_of_range = receive_until(ws, "error")
    assert refused["field"] == "index" and "changed" in refused["message"]
    assert out_of_range["field"] == "index"


def test_a_rewind_tells_every_page_the_edits_it_kept(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        start(ws)
        send(ws, type="switch_neuron", layer=0, neuron=2, on=False)
        receive_until(ws, "surgery")
        send(ws, type="control", action="step")
        receive_until(ws, "frame")
        send(ws, type="rewind", step=0)
        kept = receive_until(ws, "surgery")
    assert kept["step"] == 0 and kept["switched_off"] == [[0, 2]]
