"""Takes the README's pictures of the page (run by hand after a layout change, not a test):

    .venv/bin/python -m tests.e2e.readme_screenshots

Writes docs/layout-1366x768.png, docs/layout-1920x1080.png, docs/projector-1366x768.png and
docs/lesson-1366x768.png: the first screen after a few seconds of training on the circle;
and docs/digits-1400x1000.png: the digits lab after a few seconds, a digit drawn."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.e2e.conftest import CHROMIUM
from tests.e2e.page_helpers import READY
from tests.support.live_server import LiveServer

DOCS = Path(__file__).resolve().parents[2] / "docs"
TRAINING_MS = 2500


def train_a_little(page: Page) -> None:
    page.get_by_test_id("play").click()
    page.wait_for_timeout(TRAINING_MS)
    page.get_by_test_id("pause").click()
    page.wait_for_timeout(500)


def first_screen(page: Page, url: str, width: int, height: int, name: str) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(url)
    page.wait_for_function(READY)
    if name.startswith("lesson"):
        page.get_by_test_id("lessons").select_option(index=1)
    train_a_little(page)
    page.screenshot(path=str(DOCS / f"{name}.png"))


def digits_screen(page: Page, url: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url + "/images")
    page.get_by_test_id("filter").first.wait_for()
    train_a_little(page)
    pad = page.get_by_test_id("draw-pad").bounding_box()
    assert pad is not None
    # A 7: the bar, then the stroke down.
    for points in (((0.2, 0.2), (0.8, 0.2)), ((0.8, 0.2), (0.4, 0.9))):
        (x0, y0), (x1, y1) = points
        page.mouse.move(pad["x"] + x0 * pad["width"], pad["y"] + y0 * pad["height"])
        page.mouse.down()
        for i in range(1, 11):
            t = i / 10
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            page.mouse.move(pad["x"] + x * pad["width"], pad["y"] + y * pad["height"])
        page.mouse.up()
    page.locator("td[data-true='9'][data-predicted='9']").click()
    page.get_by_test_id("image-landscape-compute").click()
    page.locator("[data-testid=image-landscape] [data-state=drawn]").wait_for(timeout=60_000)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_timeout(800)
    page.screenshot(path=str(DOCS / "digits-1400x1000.png"))


def main() -> None:
    server = LiveServer()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--disable-gpu", "--disable-quic"]
            )
            for url, width, height, name in [
                ("/", 1366, 768, "layout-1366x768"),
                ("/", 1920, 1080, "layout-1920x1080"),
                ("/#projector=1", 1366, 768, "projector-1366x768"),
                ("/", 1366, 768, "lesson-1366x768"),
            ]:
                page = browser.new_page()
                first_screen(page, server.url + url, width, height, name)
                page.close()
            page = browser.new_page()
            digits_screen(page, server.url)
            page.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
