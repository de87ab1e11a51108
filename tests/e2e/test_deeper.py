"""See deeper, as a learner uses it: λmax against 2/lr, the hidden space, surgery, a sweep."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.conftest import ARTIFACTS

NUMBER = re.compile(r"^-?\d")


def test_lambda_max_is_plotted_against_two_over_the_rate_and_not_for_adam(lab: Page) -> None:
    panel = lab.get_by_test_id("curvature")
    panel.scroll_into_view_if_needed()  # computed only while on screen
    expect(panel.get_by_test_id("lambda-max")).to_have_text(NUMBER)
    # The default rate is 0.03: 2/lr ≈ 66.7.
    expect(panel.get_by_test_id("stability-limit")).to_contain_text("66.667 = (2 + 2β)/lr")
    lab.evaluate("() => window.backpropLab.commands.setLive({ optimizer: 'adam' })")
    lab.wait_for_function(
        "() => window.backpropLab.store.confirmedConfig.training.optimizer === 'adam'"
    )
    panel.get_by_test_id("curvature-now").click()
    expect(panel.get_by_test_id("stability-limit")).to_contain_text("not defined for adam")


def test_the_hidden_space_follows_the_chosen_layer_and_axes(lab: Page) -> None:
    panel = lab.get_by_test_id("hidden-space")
    panel.scroll_into_view_if_needed()
    info = panel.get_by_test_id("hidden-space-info")
    expect(info).to_contain_text("Layer 1 at step 0: PC1")
    panel.get_by_test_id("hidden-layer").select_option("1")
    expect(info).to_contain_text("Layer 2")
    panel.get_by_test_id("hidden-axes").select_option("neurons")
    expect(info).to_contain_text("neurons 0 and 1")
    # Stepped through the page's commands: clicking Step would scroll the panel away, and off
    # screen it stops following.
    lab.evaluate("() => window.backpropLab.commands.control('step')")
    expect(info).to_contain_text("Layer 2 at step 1")
    ARTIFACTS.mkdir(exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "hidden-space.png"))


def test_a_weight_typed_in_and_a_neuron_switched_off_show_in_the_next_frame(lab: Page) -> None:
    panel = lab.get_by_test_id("surgery")
    panel.scroll_into_view_if_needed()
    panel.get_by_test_id("edit-out").fill("1")
    panel.get_by_test_id("edit-value").fill("0.5")
    panel.get_by_test_id("edit-weight").click()
    lab.wait_for_function("() => window.backpropLab.store.frame.layers[0].weights[1][0] === 0.5")
    panel.get_by_test_id("neuron-index").fill("2")
    panel.get_by_test_id("neuron-off").click()
    expect(panel.get_by_test_id("switched-off")).to_contain_text("layer 1 neuron 2")
    expect(panel.get_by_test_id("neuron-off")).to_have_text("Switch on")
    lab.wait_for_function(
        "() => (window.backpropLab.store.code?.source || '').includes('masks[0][2] = 0.0')"
    )
    panel.get_by_test_id("neuron-off").click()
    expect(panel.get_by_test_id("switched-off")).to_have_text("Every neuron is on.")


def test_a_sweep_draws_its_map_and_a_click_opens_that_cells_run(lab: Page) -> None:
    panel = lab.get_by_test_id("sweep")
    panel.scroll_into_view_if_needed()
    panel.get_by_test_id("sweep-steps").select_option("200")
    panel.get_by_test_id("sweep-start").click()
    expect(panel.get_by_test_id("sweep-status")).to_contain_text("Done", timeout=30_000)
    box = panel.get_by_test_id("sweep-map").bounding_box()
    assert box is not None
    # The top-left cell: the smallest rate, the largest momentum (0.95).
    panel.get_by_test_id("sweep-map").click(position={"x": box["width"] * 0.2, "y": 10})
    lab.wait_for_function(
        "() => window.backpropLab.store.confirmedConfig.training.momentum === 0.95"
    )
    rate = lab.evaluate("() => window.backpropLab.store.confirmedConfig.training.learning_rate")
    assert rate < 0.03
    # The run that cell trained, at its last step, paused: not the settings replayed from 0.
    expect(lab.get_by_test_id("step-count")).to_have_text("200")
    expect(lab.locator("#timeline-view")).to_contain_text("sweep cell lr=")
