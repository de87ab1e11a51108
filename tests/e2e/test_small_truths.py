"""Small untruths the page no longer tells: ∂z labels that rounded to 0.00, zero_grad() marked
next while skipped, neurons counted from 0, x₂ on 1-D data, and dead ReLUs left unsaid."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .page_helpers import open_lab, store_value
from .test_honest_labels import phase_to

PHASES = ("zero_grad", "forward", "loss", "backward")


def test_the_neurons_dz_labels_show_their_value_and_hover_counts_from_one(lab: Page) -> None:
    phase_to(lab, PHASES)
    lab.get_by_test_id("skip-animation").click()
    graph = lab.get_by_test_id("network-graph")
    labels = graph.locator(".neuron-value.gradient").all_inner_texts()
    shown = [float(text.split()[-1]) for text in labels]
    means = store_value(lab, "store.frame.phase.pre_activation_grads.flat()")
    assert isinstance(means, list)
    # Every nonzero mean ∂z shows a nonzero number, within the two digits it is shown with.
    for value, mean in zip(shown, means, strict=True):
        assert (value == 0) == (mean == 0) and abs(value - mean) <= 0.051 * abs(mean), labels
    graph.locator(".neuron[data-layer='1']").first.hover()
    expect(lab.locator("#tooltip")).to_contain_text("neuron 1 of hidden layer 1")


def test_with_zero_grad_skipped_its_line_is_struck_and_forward_is_next(lab: Page) -> None:
    lab.get_by_test_id("skip-zero-grad").check()
    lab.wait_for_function("() => window.backpropLab.store.skipZeroGrad === true")
    phase_to(lab, (*PHASES, "step"))
    zero_grad = lab.locator(".code-listing .line[data-phase='zero_grad']")
    expect(zero_grad).to_have_class("line skipped")
    expect(lab.locator(".code-listing .line.next")).to_have_attribute("data-phase", "forward")


def test_on_1d_data_the_x2_inputs_are_off_and_the_page_says_why(page: Page) -> None:
    errors = open_lab(page)
    page.get_by_test_id("dataset").select_option("sine")
    page.wait_for_function(
        "() => window.backpropLab.store.confirmedConfig?.data.dataset === 'sine'"
    )
    assert store_value(page, "store.confirmedConfig.model.features") == ["x1"]
    expect(page.get_by_test_id("feature-x2")).not_to_be_checked()
    expect(page.get_by_test_id("feature-x2")).to_be_disabled()
    expect(page.get_by_test_id("one-d-note")).to_be_visible()
    page.get_by_test_id("dataset").select_option("circle")
    expect(page.get_by_test_id("feature-x2")).to_be_enabled()
    assert errors == []


def test_dead_relus_speak_up_in_the_status_line(page: Page) -> None:
    errors = open_lab(page, "activation=relu&optimizer=adam&learningRate=0.3&pace=0")
    page.get_by_test_id("play").click()
    expect(page.get_by_test_id("status")).to_contain_text("running")
    expect(page.get_by_test_id("status")).to_contain_text("dead ReLUs", timeout=20_000)
    page.get_by_test_id("pause").click()
    assert errors == []
