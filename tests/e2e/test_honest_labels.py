"""The page's labels tell the truth: every activation in the toolbar, the neurons' gradient named
for what it is (the batch mean of ∂L/∂zₙ, which is ∂L/∂b ÷ N), and clipped or raw ∂L/∂w said."""

from __future__ import annotations

import math
from typing import get_args

from playwright.sync_api import Page, expect

from app.training.model import ActivationName

from .page_helpers import store_value

ALL_GRADIENTS = "store.frame.layers.flatMap((l) => [...l.weight_grads.flat(), ...l.bias_grads])"


def phase_to(page: Page, names: tuple[str, ...]) -> None:
    for name in names:
        page.get_by_test_id("step-phase").click()
        expect(page.get_by_test_id("phase")).to_have_text(name)


def test_the_toolbar_offers_every_activation_the_server_supports(lab: Page) -> None:
    menu = lab.get_by_test_id("activation")
    offered = menu.locator("option").evaluate_all("(options) => options.map((o) => o.value)")
    assert offered == list(get_args(ActivationName))
    menu.select_option("gelu")
    lab.wait_for_function(
        "() => window.backpropLab.store.frame.activations.every((a) => a === 'gelu')"
    )


def test_the_neurons_gradient_is_the_batch_mean_of_dl_dz_which_is_dl_db_over_n(lab: Page) -> None:
    phase_to(lab, ("zero_grad", "forward", "loss", "backward"))
    lab.get_by_test_id("skip-animation").click()
    graph = lab.get_by_test_id("network-graph")
    value = graph.locator(".neuron-value.gradient").first
    expect(value).to_contain_text("mean ∂z")
    assert value.get_attribute("title") == "mean over the batch of ∂L/∂zₙ (= ∂L/∂b ÷ N)"
    graph.locator(".neuron[data-layer='1']").first.hover()
    expect(lab.locator("#tooltip")).to_contain_text("mean over the batch of ∂L/∂zₙ (= ∂L/∂b ÷ N)")
    # What the label claims: the value shown times the batch size is autograd's ∂L/∂b.
    batch = store_value(lab, "store.config.training.batch_size")
    shown = store_value(lab, "store.frame.phase.pre_activation_grads")
    bias_grads = store_value(lab, "store.frame.layers.map((l) => l.bias_grads)")
    for means, sums in zip(shown, bias_grads, strict=True):
        for mean, total in zip(means, sums, strict=True):
            assert math.isclose(mean * batch, total, rel_tol=1e-4, abs_tol=1e-7)


def test_after_a_step_with_clipping_the_edges_say_clipped_and_backward_says_raw(lab: Page) -> None:
    clip = lab.get_by_test_id("grad-clip-norm")
    clip.fill("0.01")
    clip.dispatch_event("change")
    lab.wait_for_function(
        "() => window.backpropLab.store.confirmedConfig.training.grad_clip_norm === 0.01"
    )
    lab.get_by_test_id("show-gradients").check()
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("1")
    name = lab.get_by_test_id("edge-gradient-name")
    expect(name).to_have_text("∂L/∂w clipped (global norm ≤ 0.01)")
    lab.get_by_test_id("network-graph").locator("path.edge").first.hover(force=True)
    expect(lab.locator("#tooltip")).to_contain_text("∂L/∂w clipped")
    # The edges do show the clipped gradient: its global norm is the clipping norm.
    grads = store_value(lab, ALL_GRADIENTS)
    assert math.isclose(math.hypot(*grads), 0.01, rel_tol=1e-3)
    assert store_value(lab, "store.frame.grad_norm") > 0.01

    phase_to(lab, ("zero_grad", "forward", "loss", "backward"))
    expect(name).to_have_text("∂L/∂w raw (before clipping)")
    expect(lab.get_by_test_id("phase-details")).to_contain_text("Raw: clipping comes next")
    raw = store_value(lab, ALL_GRADIENTS)
    assert math.hypot(*raw) > 0.01
