"""One sample by hand over the websocket: every value is autograd's on that point, the chain
rule multiplies out, and the finite-difference check agrees within the tolerance it states."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from app.training.config import LabConfig
from app.training.sample_check import FINITE_DIFFERENCE_TOLERANCE
from app.training.session import TrainingSession

from .helpers import receive_until

SAMPLE = 7


def ask(ws: Any, **fields: Any) -> dict[str, Any]:
    ws.send_text(json.dumps({"type": "sample", **fields}))
    return receive_until(ws, "sample")


def started(ws: Any, steps: int) -> None:
    ws.send_text(json.dumps({"type": "hello", "config": LabConfig().model_dump()}))
    receive_until(ws, "frame")
    for _ in range(steps):
        ws.send_text(json.dumps({"type": "control", "action": "step"}))
        receive_until(ws, "frame")


def plain_torch(steps: int) -> dict[str, Any]:
    """The same point through a float64 copy of an identical session, read with hooks."""
    reference = TrainingSession(LabConfig())
    for _ in range(steps):
        reference.train_step()
    reference.model.hidden_outputs = []
    model = copy.deepcopy(reference.model).double()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def keep(_: Any, inputs: tuple[torch.Tensor, ...], z: torch.Tensor) -> None:
        if inputs[0].requires_grad:  # the first layer's input is data, not a result
            inputs[0].retain_grad()
        z.retain_grad()
        seen.append((inputs[0], z))

    for layer in model.layers:
        layer.register_forward_hook(keep)
    x = reference.data.train_x[SAMPLE : SAMPLE + 1].double()
    y = reference.data.train_y[SAMPLE : SAMPLE + 1].double()
    loss = reference.loss_fn(model(x), y)
    loss.backward()
    return {"loss": loss.item(), "seen": seen, "model": model}


def test_the_values_and_gradients_are_autograds_on_that_point(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        started(ws, steps=3)
        reply = ask(ws, index=SAMPLE, weight={"layer": 1, "out_neuron": 1, "in_neuron": 2})
    torch_side = plain_torch(steps=3)
    seen, model = torch_side["seen"], torch_side["model"]
    assert reply["index"] == SAMPLE and reply["step"] == 3
    assert reply["loss"] == pytest.approx(torch_side["loss"], rel=1e-12)
    for i, (layer, (_, z)) in enumerate(zip(reply["layers"], seen, strict=True)):
        assert layer["pre_activations"] == pytest.approx(z[0].tolist(), rel=1e-12)
        assert layer["pre_activation_grads"] == pytest.approx(z.grad[0].tolist(), rel=1e-12)
        # A hidden layer's a is what the next layer receives; the output's a is its z.
        a = seen[i + 1][0] if i + 1 < len(seen) else z
        assert layer["activations"] == pytest.approx(a[0].tolist(), rel=1e-12)
        assert layer["activation_grads"] == pytest.approx(a.grad[0].tolist(), rel=1e-12)

    rule = reply["chain_rule"]
    w_grad = model.layers[1].weight.grad[1, 2].item()
    assert rule["autograd"] == pytest.approx(w_grad, rel=1e-12)
    assert rule["product"] == pytest.approx(
        rule["dloss_da"] * rule["da_dz"] * rule["dz_dw"], rel=1e-15
    )
    assert rule["product"] == pytest.approx(w_grad, rel=1e-12)
    assert rule["dloss_da"] == reply["layers"][1]["activation_grads"][1]
    assert rule["dz_dw"] == reply["layers"][0]["activations"][2]
    assert reply["check"] is None, "the check runs only when asked for"


@pytest.mark.parametrize("weight", [(0, 3, 1), (1, 0, 3), (2, 0, 1)])
def test_the_finite_difference_check_agrees_within_its_stated_tolerance(
    client: TestClient, weight: tuple[int, int, int]
) -> None:
    layer, out, inp = weight
    with client.websocket_connect("/ws") as ws:
        started(ws, steps=2)
        edge = {"layer": layer, "out_neuron": out, "in_neuron": inp}
        check = ask(ws, index=SAMPLE, weight=edge, check=True)["check"]
    assert check["tolerance"] == FINITE_DIFFERENCE_TOLERANCE
    assert check["agrees"] is True
    scale = max(1.0, abs(check["autograd"]))
    assert abs(check["autograd"] - check["finite_difference"]) <= check["tolerance"] * scale
    assert check["autograd"] != 0.0, "a zero gradient would agree with anything"


def test_a_point_or_weight_that_is_not_there_is_an_error_and_the_session_goes_on(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        started(ws, steps=0)
        ws.send_text(json.dumps({"type": "sample", "index": 1999}))
        assert receive_until(ws, "error")["field"] == "index"
        edge = {"layer": 0, "out_neuron": 9, "in_neuron": 0}
        ws.send_text(json.dumps({"type": "sample", "index": 0, "weight": edge}))
        assert receive_until(ws, "error")["field"] == "weight"
        ws.send_text(json.dumps({"type": "sample", "index": -1}))
        assert receive_until(ws, "error")["field"] == "index"
        assert ask(ws, index=0)["weight"] == {"layer": 0, "out_neuron": 0, "in_neuron": 0}
