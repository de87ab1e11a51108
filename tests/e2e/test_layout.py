"""The layout at common screen sizes: the main views are on screen without scrolling and nothing
spills sideways; the side panels fold away."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import screenshot
from .page_helpers import open_lab

# The run controls and the three main views: what a learner must see at once.
MAIN_VIEWS = ["reset", "play", "step", "network-graph", "loss-chart", "decision-boundary"]
SIZES = {"full-hd": (1920, 1080), "laptop": (1366, 768), "tablet": (1024, 768)}


def box(page: Page, test_id: str) -> dict[str, float]:
    found = page.get_by_test_id(test_id).bounding_box()
    assert found is not None, f"{test_id} has no box: it is not displayed"
    return found


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("size", SIZES)
def test_the_main_views_fit_the_screen_without_scrolling(page: Page, size: str) -> None:
    width, height = SIZES[size]
    errors = open_lab(page, width=width, height=height)
    for test_id in MAIN_VIEWS:
        expect(page.get_by_test_id(test_id)).to_be_visible()
        b = box(page, test_id)
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, f"{test_id} is cut off sideways: {b}"
        assert b["y"] >= 0 and b["y"] + b["height"] <= height, f"{test_id} is below the fold: {b}"
    assert not overlap(box(page, "network-graph"), box(page, "decision-boundary"))
    assert not overlap(box(page, "network-graph"), box(page, "loss-chart"))
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "a sideways scrollbar"
    screenshot(page, f"layout-{width}x{height}")
    assert errors == []


def test_side_panels_fold_away_and_open_again(lab: Page) -> None:
    heading = lab.locator("[data-panel=regularisation] > summary")
    expect(lab.get_by_test_id("weight-decay")).to_be_visible()
    heading.click()
    expect(lab.get_by_test_id("weight-decay")).to_be_hidden()
    lab.locator("[data-panel=inside-one-step] > summary").click()
    expect(lab.get_by_test_id("code-panel")).to_be_hidden()
    heading.click()
    expect(lab.get_by_test_id("weight-decay")).to_be_visible()
