"""The pace of Play, as a person meets it: a fresh page plays at a watchable number of steps
per frame, and Run N steps stops at exactly N."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .page_helpers import open_lab, store_value

# Every loss record is one burst (one frame): the steps between two records are the steps of a
# frame. Read from the records, not from the frames drawn, which a slow page may skip.
FRAME_STEP_GAPS = "store.lossHistory.slice(1).map((p, i) => p.step - store.lossHistory[i].step)"


def test_a_fresh_page_plays_at_a_watchable_pace(page: Page) -> None:
    errors = open_lab(page)
    pace = int(page.get_by_test_id("speed").input_value())
    assert 0 < pace <= 25, "the page starts at a few steps a frame, not at full speed"
    page.get_by_test_id("play").click()
    page.wait_for_function("() => window.backpropLab.store.frame.step >= 60")
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("status")).to_contain_text("paused")
    # The setting reached the server, and every frame moved by at most that many steps.
    assert store_value(page, "store.confirmedConfig.training.steps_per_frame") == pace
    gaps = store_value(page, FRAME_STEP_GAPS)
    assert isinstance(gaps, list) and len(gaps) >= 60 // pace - 1
    assert max(gaps) <= pace, gaps
    assert f"pace={pace}" in page.url
    assert errors == []


def test_run_n_steps_stops_at_n_and_says_so(page: Page) -> None:
    errors = open_lab(page)
    page.get_by_test_id("speed").select_option("0")  # max: many steps a frame, still exact
    page.wait_for_function(
        "() => window.backpropLab.store.confirmedConfig?.training.steps_per_frame === 0"
    )
    page.get_by_test_id("step").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    page.locator("[data-testid=run-steps] input").fill("2345")
    page.locator("[data-testid=run-steps] button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("2346", timeout=60_000)
    expect(page.get_by_test_id("status")).to_contain_text("paused")
    expect(page.get_by_test_id("status")).to_contain_text("paused at step 2346")
    assert "pace=0" in page.url
    assert errors == []


def diverged_at(page: Page) -> int:
    message = str(store_value(page, "store.frame.message"))
    found = re.search(r"Diverged at step (\d+)", message)
    assert found, message
    return int(found.group(1))


def test_play_and_single_steps_diverge_at_the_same_step(page: Page) -> None:
    errors = open_lab(page, "activation=sigmoid&learningRate=10&pace=0")
    page.get_by_test_id("play").click()
    expect(page.get_by_test_id("status")).to_contain_text("diverged", timeout=30_000)
    played = diverged_at(page)
    page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    for step in range(1, 1000):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(step))
        if store_value(page, "store.frame.status") == "diverged":
            break
    assert diverged_at(page) == played == step
    assert errors == []
