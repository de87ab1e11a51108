"""Projector mode: one toggle makes the type large and the lines thick, and the link keeps it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .page_helpers import open_lab

LOSS_TICK_FONT = "[data-testid=loss-chart] [data-tick-font-px]"


def tick_font_px(page: Page) -> float:
    return float(page.locator(LOSS_TICK_FONT).get_attribute("data-tick-font-px") or 0)


def widest_edge(page: Page) -> float:
    widths: list[float] = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=network-graph] path.edge')]"
        ".map((p) => Number(p.getAttribute('stroke-width')))"
    )
    return max(widths)


def font_px(page: Page, selector: str) -> float:
    return float(
        page.evaluate(
            f"parseFloat(getComputedStyle(document.querySelector('{selector}')).fontSize)"
        )
    )


def test_projector_mode_enlarges_type_and_lines_and_rides_in_the_link(page: Page) -> None:
    errors = open_lab(page, width=1366, height=768)
    toggle = page.get_by_test_id("projector-mode")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    chart_font, edge, caption = tick_font_px(page), widest_edge(page), font_px(page, ".caption")

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert "projector=1" in page.url
    assert tick_font_px(page) >= 14 > chart_font
    assert widest_edge(page) > edge * 1.5
    assert font_px(page, ".caption") >= 15 > caption
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366

    page.reload()
    page.wait_for_function("() => window.backpropLab && window.backpropLab.store.frame !== null")
    expect(page.get_by_test_id("projector-mode")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("url-notice")).to_be_hidden()
    page.get_by_test_id("projector-mode").click()
    assert "projector=1" not in page.url
    assert tick_font_px(page) == chart_font
    assert errors == []
