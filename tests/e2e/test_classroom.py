"""Classroom mode and shared links: a link can hide controls, a link's settings come back after
a reload, and values a link got wrong fall back to defaults with a notice that says which."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import screenshot
from .page_helpers import open_lab, open_more_settings, store_value


def test_a_link_hides_the_controls_it_names_and_keeps_hiding_them(page: Page) -> None:
    errors = open_lab(page, "learningRate=0.1&hide=optimizer,learning-rate,landscape,beta1")
    expect(page.get_by_test_id("optimizer")).to_be_hidden()
    expect(page.get_by_test_id("learning-rate")).to_be_hidden()
    expect(page.get_by_test_id("loss-surface")).to_be_hidden()
    expect(page.get_by_test_id("activation")).to_be_visible()
    expect(page.get_by_test_id("url-notice")).to_be_hidden()
    # The hidden control still holds the link's value; the run uses it.
    assert store_value(page, "store.frame.learning_rate") == 0.1
    # A change elsewhere rewrites the hash but keeps the classroom part of it...
    page.get_by_test_id("activation").select_option("relu")
    assert (
        "activation=relu" in page.url
        and "hide=optimizer%2Clearning-rate%2Clandscape%2Cbeta1" in page.url
    )
    # ...and a control some other code shows again (Adam's β₁) stays hidden.
    page.evaluate(
        "() => { const o = document.getElementById('optimizer'); o.value = 'adam';"
        " o.dispatchEvent(new Event('change')); }"
    )
    open_more_settings(page)
    expect(page.get_by_test_id("beta2")).to_be_visible()
    expect(page.get_by_test_id("beta1")).to_be_hidden()
    screenshot(page, "classroom-hidden-controls")
    assert errors == []


def test_a_link_round_trips_through_a_reload(page: Page) -> None:
    errors = open_lab(page)
    page.get_by_test_id("dataset").select_option("xor")
    page.get_by_test_id("optimizer").select_option("adam")
    page.get_by_test_id("learning-rate").select_option("0.01")
    page.get_by_test_id("add-layer").click()
    expect(page.locator("#layer-count")).to_have_text("3")
    link = page.url
    fresh = page.context.new_page()  # a new tab: no session to resume, only the link
    open_lab(fresh, link.split("#", 1)[1])
    expect(fresh.get_by_test_id("dataset")).to_have_value("xor")
    expect(fresh.get_by_test_id("optimizer")).to_have_value("adam")
    expect(fresh.get_by_test_id("learning-rate")).to_have_value("0.01")
    expect(fresh.locator("#layer-count")).to_have_text("3")
    assert store_value(fresh, "store.frame.layers.length") == 4
    assert errors == []


def test_bad_values_in_a_link_fall_back_to_defaults_with_a_notice(page: Page) -> None:
    errors = open_lab(
        page, "learningRate=banana&layers=99&dataset=spiral&colour=red&hide=nothing-here"
    )
    notice = page.get_by_test_id("url-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("learningRate, layers, colour")
    expect(notice).to_contain_text("nothing-here")
    expect(notice).not_to_contain_text("spiral")
    expect(page.get_by_test_id("learning-rate")).to_have_value("0.03")
    expect(page.locator("#layer-count")).to_have_text("2")
    expect(page.get_by_test_id("dataset")).to_have_value("spiral")
    screenshot(page, "classroom-url-notice")
    notice.get_by_role("button", name="Dismiss this notice").click()
    expect(notice).to_be_hidden()
    assert errors == []
