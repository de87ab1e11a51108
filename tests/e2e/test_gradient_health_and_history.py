"""Gradient health, distributions and the rewindable history, as a person uses them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ARTIFACTS


def screenshot_health_column(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".health-column").screenshot(path=str(ARTIFACTS / f"{name}.png"))


VANISHING = "[data-testid=health-flags] li[data-kind=vanishing]"


def step_times(page: Page, times: int) -> None:
    start = int(page.get_by_test_id("step-count").inner_text())
    for n in range(start + 1, start + times + 1):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))


def edge_widths(page: Page) -> list[str | None]:
    return page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=network-graph] path.edge')]"
        ".map((p) => p.getAttribute('stroke-width'))"
    )


def test_a_six_layer_sigmoid_net_flags_vanishing_gradients_and_relu_clears_them(lab: Page) -> None:
    # Default init, seed 0, circle: measured first/last mean |grad| ≈ 3e-6 with sigmoid and no
    # ratio below 1e-1 after the switch to ReLU (tests/unit/test_grad_health.py, VANISHING_RATIO).
    lab.evaluate("sessionStorage.clear()")  # a new run from the link, not the resumed one
    lab.goto("/#layers=4,4,4,4,4,4&activation=sigmoid")
    lab.reload()
    lab.wait_for_function("() => window.backpropLab.store.frame?.layers.length === 7")
    step_times(lab, 3)
    expect(lab.locator(VANISHING).first).to_be_visible()
    expect(lab.locator(VANISHING).first).to_contain_text("smaller than")
    assert lab.locator("[data-testid=gradient-health] canvas").count() == 1
    expect(lab.locator("[data-testid=distributions] canvas")).to_have_count(7)
    lab.get_by_test_id("activation").select_option("relu")
    step_times(lab, 3)
    expect(lab.locator(VANISHING)).to_have_count(0)
    expect(lab.get_by_test_id("unit-health")).to_contain_text("dead")
    screenshot_health_column(lab, "gradient-health")


def test_the_loss_axis_spans_the_current_run_however_high_an_overlay_reaches(lab: Page) -> None:
    # Kaiming weights start this model at a training loss of ~0.80; PyTorch's default at ~0.69.
    lab.get_by_test_id("init").select_option("kaiming")
    step_times(lab, 3)
    lab.get_by_test_id("init").select_option("default")
    expect(lab.locator("[data-testid=runs] li")).to_have_count(2)
    # The runs list can name the new run before its first frame resets the step count.
    expect(lab.get_by_test_id("step-count")).to_have_text("0")
    step_times(lab, 3)
    lab.get_by_test_id("show-other-runs").check()
    expect(lab.get_by_test_id("loss-overlays")).to_contain_text("run 1")
    top = lab.evaluate(
        "Math.max(...window.backpropLab.store.lossHistory"
        ".flatMap((p) => [p.train, p.test, p.penalty]).filter(Number.isFinite))"
    )
    overlay_top = lab.evaluate(
        "Math.max(...window.backpropLab.store.runs"
        ".filter((r) => !r.current).flatMap((r) => r.train))"
    )
    assert overlay_top > top * 1.05  # the overlay reaches above the current run's axis
    y_max = lab.get_by_test_id("loss-chart").locator("[data-y-max]").get_attribute("data-y-max")
    assert y_max is not None and float(y_max) == pytest.approx(top * 1.05)


def test_scrubbing_rewinds_every_view_and_playing_on_is_an_overlaid_branch(lab: Page) -> None:
    step_times(lab, 6)
    widths_at_6 = edge_widths(lab)
    timeline = lab.get_by_test_id("timeline")
    timeline.fill("2")
    expect(lab.get_by_test_id("step-count")).to_have_text("2")
    lab.wait_for_function("() => window.backpropLab.store.frame.step === 2")
    assert edge_widths(lab) != widths_at_6
    timeline.fill("6")
    expect(lab.get_by_test_id("step-count")).to_have_text("6")
    assert edge_widths(lab) == widths_at_6  # back at the present, exactly as it was
    timeline.fill("3")
    expect(lab.get_by_test_id("step-count")).to_have_text("3")

    lab.get_by_test_id("learning-rate").select_option("0.3")
    lab.get_by_test_id("step").click()
    expect(lab.get_by_test_id("step-count")).to_have_text("4")
    runs = lab.locator("[data-testid=runs] li")
    expect(runs).to_have_count(2)
    expect(runs.nth(1)).to_contain_text("from step 3: learning_rate 0.03 → 0.3")
    # The loss chart shows the current run; the branch's parent is overlaid when asked for.
    expect(lab.get_by_test_id("loss-overlays")).not_to_contain_text("run 1")
    expect(lab.get_by_test_id("show-other-runs")).to_be_enabled()
    lab.get_by_test_id("show-other-runs").check()
    expect(lab.get_by_test_id("loss-overlays")).to_contain_text("run 1")
    assert lab.evaluate("window.backpropLab.store.lossHistory.at(-1).step") == 4

    href = lab.get_by_test_id("export-run-1-csv").get_attribute("href")
    assert href is not None
    csv = lab.request.get(href).text()
    assert csv.startswith("step,epoch,train_loss") and "layer0_grad_norm" in csv
    assert [line.split(",")[0] for line in csv.strip().splitlines()[1:]] == [
        str(s) for s in range(7)
    ], csv
    screenshot_health_column(lab, "history-branch")
