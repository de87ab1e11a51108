"""Watching backpropagation: step phase by phase, read the code and the autograd graph."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import screenshot

PHASE_LINES = {
    "zero_grad": "optimizer.zero_grad()",
    "forward": "output = model(x)",
    "loss": "loss = loss_fn(output, y)",
    "backward": "loss.backward()",
    "step": "optimizer.step()",
}


def step_phase(page: Page, expected: str) -> None:
    page.get_by_test_id("step-phase").click()
    expect(page.get_by_test_id("phase")).to_have_text(expected)


def test_stepping_through_the_five_phases_shows_what_each_one_changed(lab: Page) -> None:
    graph = lab.get_by_test_id("network-graph")
    code = lab.get_by_test_id("code-panel")
    lab.get_by_test_id("show-gradients").check()
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("1")
    expect(graph).to_have_class(re.compile("showing-gradients"))

    step_phase(lab, "zero_grad")
    expect(graph).not_to_have_class(re.compile("showing-gradients"))
    expect(code.locator(".line.current")).to_contain_text(PHASE_LINES["zero_grad"])
    expect(code.locator(".line.next")).to_contain_text(PHASE_LINES["forward"])

    lab.get_by_test_id("show-gradients").uncheck()
    step_phase(lab, "forward")
    expect(graph.locator(".neuron-value").first).not_to_have_text("")
    expect(code.locator(".line.current")).to_contain_text(PHASE_LINES["forward"])

    step_phase(lab, "loss")
    expect(lab.get_by_test_id("phase-details")).to_contain_text("loss = loss_fn(output, y) = 0.")

    step_phase(lab, "backward")
    expect(graph).to_have_class(re.compile("showing-gradients"))
    expect(code.locator(".line.current")).to_contain_text(PHASE_LINES["backward"])
    expect(lab.get_by_test_id("autograd-graph")).to_contain_text("‖grad‖")
    expect(lab.get_by_test_id("step-count")).to_have_text("1")

    step_phase(lab, "step")
    expect(graph).to_have_attribute("data-edges", "updates")
    expect(lab.get_by_test_id("step-count")).to_have_text("2")
    expect(lab.get_by_test_id("phase-details")).to_contain_text("SGD check")
    graph.locator("path.edge").first.hover(force=True)
    expect(lab.locator("#tooltip")).to_contain_text("Δw")
    screenshot(lab, "phase-step")

    # A full step leaves phase mode; the highlighted line goes with it.
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("3")
    expect(lab.get_by_test_id("phase")).to_have_text("—")
    expect(code.locator(".line.current")).to_have_count(0)


def test_play_in_the_middle_of_a_step_finishes_it_first(lab: Page) -> None:
    step_phase(lab, "zero_grad")
    step_phase(lab, "forward")
    lab.get_by_test_id("play").click()
    lab.wait_for_function("() => window.backpropLab.store.frame.step > 20")
    lab.get_by_test_id("pause").click()
    expect(lab.get_by_test_id("status")).to_contain_text("paused")
    steps = [p["step"] for p in lab.evaluate("window.backpropLab.store.lossHistory")]
    assert 1 in steps, "the half-done step was completed (and recorded) before Play went on"
    step_phase(lab, "zero_grad")


def test_the_code_panel_and_the_autograd_graph_follow_the_model(lab: Page) -> None:
    code = lab.get_by_test_id("code-panel")
    autograd = lab.get_by_test_id("autograd-graph")
    expect(code).to_contain_text("nn.Tanh()")
    expect(autograd.locator(".autograd-node[data-name=TanhBackward0]")).to_have_count(2)
    expect(autograd.locator(".autograd-node.leaf")).to_have_count(6)

    lab.get_by_test_id("activation").select_option("relu")
    expect(code).to_contain_text("nn.ReLU()")
    expect(autograd.locator(".autograd-node[data-name=ReluBackward0]")).to_have_count(2)

    # The largest model: 6 hidden layers of 16. The graph stays one chain of ops, every
    # parameter a labelled leaf, and no label is cut off.
    lab.evaluate("sessionStorage.clear()")  # a new run, configured by the URL
    lab.goto("/#layers=16%2C16%2C16%2C16%2C16%2C16")
    lab.reload()
    expect(autograd.locator(".autograd-node.leaf")).to_have_count(14)
    expect(autograd.locator("[data-parameter='layers.0.weight']")).to_contain_text("[16×2]")
    overflowing = lab.evaluate(
        """() => [...document.querySelectorAll('[data-testid=autograd-graph] .autograd-node')]
            .filter((g) => [...g.querySelectorAll('text')].some(
              (t) => t.getComputedTextLength() + 6 > g.querySelector('rect').width.baseVal.value))
            .map((g) => g.textContent)"""
    )
    assert overflowing == []
    screenshot(lab, "autograd-largest")
