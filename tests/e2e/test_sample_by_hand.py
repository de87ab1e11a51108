"""One sample by hand: pick a training point, read the chain rule with its numbers, check it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import screenshot

NUMBER = r"-?\d[\d.e+-]*"


def test_one_point_shows_value_grad_pairs_the_chain_rule_and_a_passing_check(lab: Page) -> None:
    graph = lab.get_by_test_id("network-graph")
    chain = lab.get_by_test_id("chain-rule")
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("1")

    lab.get_by_test_id("sample-by-hand").locator("summary").click()
    index = lab.get_by_test_id("sample-index")
    index.fill("5")
    index.press("Enter")
    expect(lab.locator(".sample-point")).to_contain_text("point #5")
    expect(chain).to_contain_text("∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w")
    expect(chain).to_contain_text("layers[0].weight[0][0]")
    expect(chain).to_contain_text(re.compile(rf"= {NUMBER} · {NUMBER} · {NUMBER}"))
    # Every hidden and output neuron carries this point's a | ∂L/∂a.
    expect(graph).to_have_class(re.compile("by-hand"))
    pair = re.compile(rf"{NUMBER} \| {NUMBER}")
    expect(graph.locator(".neuron-value").first).to_contain_text(pair)

    # Clicking an edge picks the weight: edges 8… join hidden layer 1 to hidden layer 2.
    graph.locator("path.edge").nth(9).dispatch_event("click")
    expect(chain).to_contain_text("layers[1].weight[0][1]")
    expect(graph.locator("path.edge.chain-rule-weight")).to_have_count(1)

    lab.get_by_test_id("gradient-check").click()
    result = lab.get_by_test_id("gradient-check-result")
    expect(result).to_contain_text(re.compile(rf"autograd {NUMBER}\s+vs\s+finite difference"))
    expect(result).to_contain_text("tolerance 1e-7")
    expect(result).to_contain_text("agree ✓")
    expect(result).to_have_attribute("data-agrees", "true")
    screenshot(lab, "sample-by-hand")

    # Closed, the graph goes back to its usual labels.
    lab.get_by_test_id("sample-by-hand").locator("summary").click()
    expect(graph).not_to_have_class(re.compile("by-hand"))


def test_clicking_a_training_point_follows_it_instead_of_removing_it(lab: Page) -> None:
    lab.get_by_test_id("sample-by-hand").locator("summary").click()
    expect(lab.locator(".sample-point")).to_contain_text("point #0")
    train = lab.evaluate("window.backpropLab.store.data.train")
    pick = 17
    target = train[pick]
    canvas = lab.get_by_test_id("decision-boundary").locator("canvas")
    canvas.scroll_into_view_if_needed()  # the open panel scrolled the page down
    box = canvas.bounding_box()
    assert box is not None
    extent = lab.evaluate("window.backpropLab.store.data.extent")
    x = box["x"] + (target["x1"] + extent) / (2 * extent) * box["width"]
    y = box["y"] + (extent - target["x2"]) / (2 * extent) * box["height"]
    lab.mouse.click(x, y)
    # The nearest training point within a few pixels is followed: usually #17 itself.
    expect(lab.locator(".sample-point")).not_to_contain_text("point #0")
    followed = int(lab.get_by_test_id("sample-index").input_value())
    chosen = train[followed]
    assert abs(chosen["x1"] - target["x1"]) < 0.2 and abs(chosen["x2"] - target["x2"]) < 0.2
    # Nothing was removed: the data are as they were.
    assert lab.evaluate("window.backpropLab.store.data.train.length") == len(train)
    screenshot(lab, "sample-picked-on-the-plane")
