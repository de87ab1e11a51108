"""The training toolkit in the browser: optimizer knobs, schedules, regularisers, layers, data."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import screenshot
from .page_helpers import open_more_settings


def frame_value(page: Page, expression: str) -> object:
    return page.evaluate(
        f"() => {{ const f = window.backpropLab.store.frame; return {expression}; }}"
    )


def step_to(page: Page, steps: int) -> None:
    for n in range(1, steps + 1):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))


def test_optimizer_knobs_and_a_schedule_show_the_effective_learning_rate(lab: Page) -> None:
    lab.get_by_test_id("optimizer").select_option("adamw")
    open_more_settings(lab)
    expect(lab.get_by_test_id("beta1")).to_be_visible()
    expect(lab.get_by_test_id("nesterov")).to_be_hidden()
    expect(lab.get_by_test_id("momentum")).to_be_disabled()
    lab.get_by_test_id("beta2").fill("0.99")
    lab.get_by_test_id("beta2").dispatch_event("change")
    lab.get_by_test_id("optimizer").select_option("sgd")
    lab.get_by_test_id("nesterov").check()
    lab.get_by_test_id("momentum").fill("0.9")
    lab.get_by_test_id("momentum").dispatch_event("change")

    lab.get_by_test_id("lr-schedule").select_option("step")
    expect(lab.get_by_test_id("schedule-gamma")).to_be_visible()
    lab.get_by_test_id("schedule-step-size").fill("1")
    lab.get_by_test_id("schedule-step-size").dispatch_event("change")
    lab.get_by_test_id("schedule-gamma").fill("0.5")
    lab.get_by_test_id("schedule-gamma").dispatch_event("change")
    expect(lab.get_by_test_id("effective-learning-rate")).to_have_text("0.03")
    step_to(lab, 3)
    # 0.03 · 0.5³: the schedule halves the rate every step.
    expect(lab.get_by_test_id("effective-learning-rate")).to_have_text("0.00375")
    expect(lab.get_by_test_id("lr-chart")).to_contain_text("0.00375")
    assert "schedule=step" in lab.url and "nesterov=true" in lab.url and "beta2=0.99" in lab.url


def test_regularisers_add_a_penalty_the_loss_chart_shows_apart(lab: Page) -> None:
    lab.get_by_test_id("weight-decay").fill("0.01")
    lab.get_by_test_id("weight-decay").dispatch_event("change")
    lab.get_by_test_id("activation-regularization").select_option("l2")
    lab.get_by_test_id("activation-penalty-strength").fill("0.05")
    lab.get_by_test_id("activation-penalty-strength").dispatch_event("change")
    lab.get_by_test_id("grad-clip-norm").fill("1000")  # above the limit: clamped to it
    lab.get_by_test_id("grad-clip-norm").dispatch_event("change")
    expect(lab.get_by_test_id("grad-clip-norm")).to_have_value("100")
    step_to(lab, 1)
    lab.wait_for_function("() => window.backpropLab.store.lossHistory.at(-1).penalty > 0")
    assert frame_value(lab, "f.grad_norm") is not None
    # uPlot takes the pointer on its overlay of the plot area, over the canvas.
    chart = lab.locator("[data-testid=loss-chart] .u-over")
    chart.hover(position={"x": 200, "y": 50})
    expect(lab.get_by_test_id("loss-chart")).to_contain_text("penalty")
    assert "weightDecay=0.01" in lab.url and "activationPenalty=l2" in lab.url


def test_layers_get_their_own_activation_learn_prelu_and_freeze(lab: Page) -> None:
    lab.get_by_test_id("layer-activation-1").select_option("prelu")
    expect(lab.get_by_test_id("prelu-slope-1")).to_have_text("slope a = 0.2500")
    lab.get_by_test_id("freeze-layer-2").check()
    lab.wait_for_function("() => window.backpropLab.store.frame.frozen_layers.includes(1)")
    frozen = frame_value(lab, "f.layers[1].weights")
    step_to(lab, 3)
    expect(lab.get_by_test_id("prelu-slope-1")).not_to_have_text("slope a = 0.2500")
    assert frame_value(lab, "f.layers[1].weights") == frozen
    assert frame_value(lab, "f.layers[1].weight_grads") is None
    assert frame_value(lab, "f.layers[0].weight_grads") is not None
    # The global knob still sets every layer.
    lab.get_by_test_id("activation").select_option("relu")
    expect(lab.get_by_test_id("layer-activation-1")).to_have_value("relu")
    expect(lab.get_by_test_id("layer-activation-2")).to_have_value("relu")


def test_input_features_and_initialisation_rebuild_the_network(lab: Page) -> None:
    lab.get_by_test_id("feature-x1x2").check()
    lab.get_by_test_id("feature-sin_x1").check()
    inputs = lab.locator("[data-testid=network-graph] .neuron.input")
    expect(inputs).to_have_count(4)
    expect(lab.locator("[data-testid=network-graph] .neuron[data-feature=x1x2]")).to_have_count(1)
    lab.get_by_test_id("feature-x1").uncheck()
    expect(inputs).to_have_count(3)
    assert frame_value(lab, "f.features") == ["x2", "x1x2", "sin_x1"]
    lab.get_by_test_id("init").select_option("zeros")
    lab.wait_for_function("() => window.backpropLab.store.frame.layers[0].weights[0][0] === 0")
    assert "init=zeros" in lab.url and "features=x2%2Cx1x2%2Csin_x1" in lab.url
    screenshot(lab, "toolkit-features")


def test_datasets_say_which_output_and_loss_apply(lab: Page) -> None:
    lab.get_by_test_id("dataset").select_option("blobs")
    expect(lab.get_by_test_id("task-info")).to_contain_text("CrossEntropyLoss")
    expect(lab.locator("[data-testid=network-graph] .neuron")).to_have_count(2 + 4 + 2 + 3)
    lab.wait_for_function("() => window.backpropLab.store.frame.class_maps?.length === 3")
    expect(lab.get_by_test_id("layer-panel")).to_contain_text("softmax")
    lab.get_by_test_id("dataset").select_option("sine")
    expect(lab.get_by_test_id("task-info")).to_contain_text("MSELoss")
    lab.wait_for_function("() => window.backpropLab.store.frame.curve !== null")
    expect(lab.locator("#accuracy")).to_have_text("—")
    lab.get_by_test_id("dataset").select_option("moons")
    expect(lab.get_by_test_id("task-info")).to_contain_text("BCEWithLogitsLoss")
    screenshot(lab, "toolkit-moons")
