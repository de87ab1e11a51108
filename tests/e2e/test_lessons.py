"""Lessons: each one, chosen from the menu, sets up its scenario on the server, shows its settings
in the controls and its explanation on the page, and survives a shared link."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .conftest import screenshot
from .page_helpers import open_lab, store_value

# (section, field) of the configuration → the control that shows it.
CONTROLS = {
    ("data", "dataset"): "dataset",
    ("data", "n_points"): "n-points",
    ("model", "activation"): "activation",
    ("model", "init"): "init",
    ("training", "learning_rate"): "learning-rate",
    ("training", "optimizer"): "optimizer",
    ("training", "momentum"): "momentum",
    ("training", "batch_size"): "batch-size",
    ("training", "activation_penalty"): "activation-regularization",
    ("training", "activation_penalty_strength"): "activation-penalty-strength",
}


def lessons(page: Page) -> list[dict[str, Any]]:
    table: list[dict[str, Any]] = page.evaluate(
        "async () => JSON.parse(JSON.stringify((await import('/static/js/lessons.js')).LESSONS))"
    )
    return table


def expect_settings_in_controls(page: Page, lesson: dict[str, Any]) -> None:
    for section, fields in lesson["settings"].items():
        for field, value in fields.items():
            if (section, field) in CONTROLS:
                expect(page.get_by_test_id(CONTROLS[section, field])).to_have_value(
                    f"{value:g}" if isinstance(value, float | int) else value
                )
            elif field == "hidden_layers":
                expect(page.locator("#layer-count")).to_have_text(str(len(value)))
            elif field == "features":
                for name in value:
                    expect(page.get_by_test_id(f"feature-{name}")).to_be_checked()
            elif field == "frozen_layers":
                for index in value:
                    expect(page.get_by_test_id(f"freeze-layer-{index + 1}")).to_be_checked()
            else:
                raise AssertionError(f"the test does not know where {section}.{field} shows")
    view = lesson.get("view", {})
    expect(page.get_by_test_id("skip-zero-grad")).to_be_checked(
        checked=bool(view.get("skipZeroGrad"))
    )
    expect(page.get_by_test_id("show-gradients")).to_be_checked(
        checked=bool(view.get("showGradients"))
    )


def test_every_lesson_loads_its_scenario(lab: Page) -> None:
    table = lessons(lab)
    assert len(table) >= 9
    lab.get_by_test_id("play").click()  # a lesson starts paused, whatever was going on
    for lesson in table:
        lab.get_by_test_id("lessons").select_option(lesson["id"])
        card = lab.get_by_test_id("lesson-card")
        expect(card).to_be_visible()
        expect(card).to_contain_text(lesson["title"])
        expect(card).to_contain_text(lesson["tryThis"][:40])
        expect_settings_in_controls(lab, lesson)
        hidden = lesson["settings"].get("model", {}).get("hidden_layers", [4, 2])
        # The server rebuilt that model (restarted at step 0) and took the training knobs.
        lab.wait_for_function(
            "n => { const f = window.backpropLab.store.frame;"
            " return f.layers.length === n && f.step === 0; }",
            arg=len(hidden) + 1,
        )
        expected_rate = lesson["settings"].get("training", {}).get("learning_rate", 0.03)
        lab.wait_for_function(
            "lr => Math.abs(window.backpropLab.store.frame.learning_rate - lr) < 1e-12",
            arg=expected_rate,
        )
        assert f"lesson={lesson['id']}" in lab.url
    expect(lab.get_by_test_id("status")).not_to_contain_text("running")


def test_a_lesson_runs_as_it_says_learning_rate_10_diverges(lab: Page) -> None:
    lab.get_by_test_id("lessons").select_option("learning-rate-too-high")
    expect(lab.get_by_test_id("learning-rate")).to_have_value("10")
    lab.keyboard.press(" ")
    expect(lab.get_by_test_id("status")).to_contain_text("diverged", timeout=10_000)


def test_a_shared_lesson_link_shows_the_lesson_and_closing_it_drops_it(page: Page) -> None:
    link = "activation=relu&layers=8%2C8&learningRate=3&lesson=dead-relus"
    errors = open_lab(page, link, width=1366, height=768)
    expect(page.get_by_test_id("lesson-card")).to_contain_text("Dead ReLUs")
    expect(page.get_by_test_id("lesson-outcome")).to_contain_text("Run 500 steps:")
    # As the card says: Run 500 steps (already filled in), and the run stops there.
    expect(page.locator("[data-testid=run-steps] input")).to_have_value("500")
    page.locator("[data-testid=run-steps] button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("500", timeout=30_000)
    screenshot(page, "lesson-1366x768")
    expect(page.get_by_test_id("lessons")).to_have_value("dead-relus")
    assert store_value(page, "store.config.training.learning_rate") == 3
    page.get_by_role("button", name="Close the lesson").click()
    expect(page.get_by_test_id("lesson-card")).to_be_hidden()
    assert "lesson=" not in page.url and "learningRate=3" in page.url
    assert errors == []
