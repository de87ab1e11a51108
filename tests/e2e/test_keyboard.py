"""Keyboard shortcuts: space plays and pauses, → steps, `.` steps one phase, `r` resets; `?`
lists them; none of them fires while the learner types in a field."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_the_run_can_be_driven_from_the_keyboard(lab: Page) -> None:
    step_count = lab.get_by_test_id("step-count")
    lab.keyboard.press("ArrowRight")
    expect(step_count).to_have_text("1")
    lab.keyboard.press("ArrowRight")
    expect(step_count).to_have_text("2")
    lab.keyboard.press(".")
    expect(lab.get_by_test_id("phase")).to_have_text("zero_grad")

    lab.keyboard.press(" ")
    expect(lab.get_by_test_id("status")).to_contain_text("running")
    lab.wait_for_function("() => window.backpropLab.store.frame.step > 10")
    lab.keyboard.press(" ")
    expect(lab.get_by_test_id("status")).to_contain_text("paused")

    lab.keyboard.press("r")
    expect(step_count).to_have_text("0")


def test_shortcuts_are_off_while_typing_in_a_field(lab: Page) -> None:
    seed = lab.get_by_test_id("model-seed")
    seed.focus()
    lab.keyboard.press("ArrowRight")
    lab.keyboard.press("r")
    lab.keyboard.press(" ")
    lab.get_by_test_id("dataset").focus()
    lab.keyboard.press(".")
    lab.wait_for_timeout(300)  # time for a wrongly sent command to come back as a frame
    expect(lab.get_by_test_id("step-count")).to_have_text("0")
    expect(lab.get_by_test_id("phase")).to_have_text("—")
    expect(lab.get_by_test_id("status")).not_to_contain_text("running")


def test_question_mark_shows_the_list_of_shortcuts(lab: Page) -> None:
    help_ = lab.get_by_test_id("shortcuts-help")
    expect(help_).to_be_hidden()
    lab.keyboard.press("?")
    expect(help_).to_be_visible()
    for text in [
        "Space",
        "Play / pause",
        "→",
        "One optimizer step",
        ".",
        "One phase",
        "R",
        "Reset",
    ]:
        expect(help_).to_contain_text(text)
    lab.keyboard.press("ArrowRight")  # nothing runs behind the open list
    lab.keyboard.press("Escape")
    expect(help_).to_be_hidden()
    expect(lab.get_by_test_id("step-count")).to_have_text("0")
    lab.get_by_test_id("shortcuts-button").click()
    expect(help_).to_be_visible()
    help_.get_by_role("button", name="Close").click()
    expect(help_).to_be_hidden()
