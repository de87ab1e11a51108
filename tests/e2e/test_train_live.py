"""What a person does: press Play, watch it learn, change knobs while it trains."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from app.training.checkpoints import load_checkpoint
from tests.conftest import LiveServer

from .conftest import screenshot


def step_count(page: Page) -> int:
    return int(page.get_by_test_id("step-count").inner_text())


def train_loss(page: Page) -> float:
    return float(page.get_by_test_id("train-loss").inner_text())


def test_the_page_shows_playground_defaults(lab: Page) -> None:
    expect(lab.get_by_test_id("dataset")).to_have_value("circle")
    expect(lab.get_by_test_id("activation")).to_have_value("tanh")
    expect(lab.get_by_test_id("learning-rate")).to_have_value("0.03")
    expect(lab.get_by_test_id("optimizer")).to_have_value("sgd")
    expect(lab.get_by_test_id("step-count")).to_have_text("0")
    expect(lab.get_by_test_id("status")).to_contain_text("idle")
    # 2 inputs, [4, 2] hidden, 1 output: 9 neurons and 8 + 8 + 2 edges.
    expect(lab.locator("[data-testid=network-graph] .neuron")).to_have_count(9)
    expect(lab.locator("[data-testid=network-graph] path.edge")).to_have_count(18)
    assert lab.locator("[data-testid=decision-boundary] canvas").count() == 1
    assert lab.locator("[data-testid=loss-chart] canvas").count() == 1


def first_layer_weights(page: Page) -> list[float]:
    return page.evaluate("window.backpropLab.store.frame.layers[0].weights.flat()")


def distance(a: list[float], b: list[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5


def test_play_trains_and_live_changes_keep_the_weights(lab: Page) -> None:
    initial_loss = train_loss(lab)
    initial_weights = first_layer_weights(lab)
    lab.get_by_test_id("play").click()
    expect(lab.get_by_test_id("status")).to_contain_text("running")
    lab.wait_for_function(
        "(start) => { const f = window.backpropLab.store.frame;"
        " return f.step > 100 && f.train_loss < start / 2; }",
        arg=initial_loss,
    )
    expect(lab.get_by_test_id("step-count")).not_to_have_text("0")

    # Mid-run: a new activation and learning rate apply from the next step on the same weights.
    # Record every frame the page draws, to compare the last one before the switch with the
    # first one after it.
    lab.evaluate(
        """() => { window.seen = []; const s = window.backpropLab.store;
            const watch = () => { const f = s.frame;
              if (!window.seen.length || window.seen.at(-1).step !== f.step)
                window.seen.push({step: f.step, act: f.activations[0],
                                  w: f.layers[0].weights.flat()});
              requestAnimationFrame(watch); };
            watch(); }"""
    )
    # A tiny learning rate first, so weights barely move between two frames: any jump in the
    # weights across the activation switch would be a re-initialisation, not training.
    lab.get_by_test_id("learning-rate").select_option("0.0001")
    lab.wait_for_function("() => window.backpropLab.store.frame.learning_rate === 0.0001")
    step_at_change = step_count(lab)
    lab.get_by_test_id("activation").select_option("relu")
    lab.wait_for_function("() => window.backpropLab.store.frame.activations[0] === 'relu'")
    lab.wait_for_function("() => window.seen.some((f) => f.act === 'relu')")
    seen = lab.evaluate("window.seen")
    first_relu = next(i for i, f in enumerate(seen) if f["act"] == "relu")
    trained_weights, switched_weights = seen[first_relu - 1]["w"], seen[first_relu]["w"]
    assert seen[first_relu]["step"] > seen[first_relu - 1]["step"], "the run did not restart"
    lab.get_by_test_id("learning-rate").select_option("0.1")
    lab.wait_for_function(
        "(s) => { const f = window.backpropLab.store.frame;"
        " return f.step > s + 200 && f.learning_rate === 0.1; }",
        arg=step_at_change,
    )
    # Re-initialising would put the weights back where they started (same seed); kept weights
    # are still near the trained ones, far from the start.
    assert distance(switched_weights, trained_weights) < 0.05 * distance(
        trained_weights, initial_weights
    )
    assert step_count(lab) > step_at_change, "the run went on, it did not restart"
    losses_after = [
        p["train"]
        for p in lab.evaluate("window.backpropLab.store.lossHistory")
        if p["step"] > step_at_change
    ]
    assert min(losses_after) < initial_loss / 2, "ReLU goes on from the trained weights"

    # Adam at 0.1 on these weights can spike the loss past twice its start after a few thousand
    # steps (how many depends on the machine's speed): switch it at a rate it trains at.
    lab.get_by_test_id("learning-rate").select_option("0.001")
    lab.wait_for_function("() => window.backpropLab.store.frame.learning_rate === 0.001")
    lab.get_by_test_id("optimizer").select_option("adam")
    lab.wait_for_function(
        "() => window.backpropLab.store.confirmedConfig.training.optimizer === 'adam'"
    )
    lab.wait_for_function("(s) => window.backpropLab.store.frame.step > s", arg=step_count(lab))
    lab.get_by_test_id("pause").click()
    expect(lab.get_by_test_id("status")).to_contain_text("paused")
    screenshot(lab, "trained-circle")
    paused_at = step_count(lab)
    lab.wait_for_timeout(300)
    assert step_count(lab) == paused_at


def test_step_advances_exactly_one_optimizer_step_and_reset_starts_over(lab: Page) -> None:
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("1")
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("2")
    lab.get_by_test_id("reset").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("0")


def test_edges_show_the_gradient_on_demand(lab: Page) -> None:
    edge = lab.locator("[data-testid=network-graph] path.edge").first
    weight_width = edge.get_attribute("stroke-width")
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("1")
    lab.get_by_test_id("show-gradients").check()
    expect(lab.get_by_test_id("network-graph")).to_have_class(re.compile("showing-gradients"))
    lab.wait_for_timeout(100)
    assert edge.get_attribute("stroke-width") != weight_width
    edge.hover(force=True)
    expect(lab.locator("#tooltip")).to_contain_text("∂L/∂w")


def test_a_far_too_high_learning_rate_is_shown_as_diverged(lab: Page) -> None:
    lab.get_by_test_id("activation").select_option("sigmoid")
    lab.get_by_test_id("learning-rate").select_option("10")
    lab.get_by_test_id("play").click()
    expect(lab.get_by_test_id("status")).to_contain_text("diverged", timeout=15_000)
    expect(lab.get_by_test_id("status")).to_contain_text("Lower the learning rate")
    screenshot(lab, "diverged")


def test_changing_layers_or_dataset_rebuilds_the_network(lab: Page) -> None:
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("1")
    lab.get_by_test_id("add-layer").click()
    expect(lab.locator("[data-testid=network-graph] .neuron")).to_have_count(11)
    expect(lab.get_by_test_id("step-count")).to_have_text("0")
    lab.get_by_test_id("add-neuron-0").click()
    expect(lab.locator("[data-testid=network-graph] .neuron")).to_have_count(12)
    lab.get_by_test_id("dataset").select_option("spiral")
    lab.wait_for_function("() => window.backpropLab.store.config.data.dataset === 'spiral'")
    assert "dataset=spiral" in lab.url and "layers=5%2C2%2C2" in lab.url


def test_a_reload_resumes_the_same_run(lab: Page) -> None:
    for _ in range(3):
        lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("3")
    lab.reload()
    expect(lab.get_by_test_id("step-count")).to_have_text("3")


def test_the_url_hash_configures_the_page(page: Page, live_server: LiveServer) -> None:
    page.goto("/#dataset=xor&layers=3%2C3&activation=relu&learningRate=0.1")
    expect(page.get_by_test_id("dataset")).to_have_value("xor")
    expect(page.get_by_test_id("activation")).to_have_value("relu")
    expect(page.get_by_test_id("learning-rate")).to_have_value("0.1")
    expect(page.locator("[data-testid=network-graph] .neuron")).to_have_count(9)


def test_the_page_loads_nothing_from_another_host(page: Page, live_server: LiveServer) -> None:
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    page.goto("/")
    page.wait_for_function("() => window.backpropLab.store.frame !== null")
    assert hosts == {live_server.url.split("/")[2]}


def test_the_javascript_protocol_agrees_with_the_served_schema(lab: Page) -> None:
    result = lab.evaluate(
        """async () => {
            const m = await import('/static/js/protocol.js');
            const schema = await (await fetch('/api/schema')).json();
            const names = (side) => Object.keys(schema[side].discriminator.mapping).sort();
            return {
              client: [Object.values(m.ClientMessage).sort(), names('client')],
              server: [Object.values(m.ServerMessage).sort(), names('server')],
            };
        }"""
    )
    assert result["client"][0] == result["client"][1]
    assert result["server"][0] == result["server"][1]


def test_the_weights_the_page_shows_are_exactly_pytorchs(lab: Page, base_url: str) -> None:
    """Weights travel as float32 bytes: decoded by the page, they equal the model file's."""
    lab.get_by_test_id("step").click()
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("2")
    session_id = lab.evaluate("window.backpropLab.store.sessionId")
    response = httpx.get(f"{base_url}/api/sessions/{session_id}/checkpoint")
    _, state, _ = load_checkpoint(response.content)
    shown = lab.evaluate("window.backpropLab.store.frame.layers")
    for i, layer in enumerate(shown):
        assert layer["weights"] == state[f"layers.{i}.weight"].tolist()
        assert layer["biases"] == state[f"layers.{i}.bias"].tolist()
        assert len(layer["weight_grads"]) == len(layer["weights"])
