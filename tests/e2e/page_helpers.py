"""Opening the page on a given link and screen size, for the classroom-readiness tests.

The `lab` fixture always opens "/" at 1400×900; these tests need a fresh page on a link with a
hash (a new context has no stored session, so the hash, not a resumed run, sets the state).
"""

from __future__ import annotations

from playwright.sync_api import Page

READY = "() => window.backpropLab && window.backpropLab.store.frame !== null"


def open_lab(page: Page, hash_: str = "", width: int = 1400, height: int = 900) -> list[str]:
    """Load the page at `/#hash_`, wait for the first frame; returns the list console errors
    will be collected into (check it is empty at the end of the test)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"/#{hash_}" if hash_ else "/")
    page.wait_for_function(READY)
    return errors


def store_value(page: Page, expression: str) -> object:
    """`expression` evaluated with `store` bound to the page's live store."""
    return page.evaluate(
        f"() => {{ const store = window.backpropLab.store; return {expression}; }}"
    )


def open_more_settings(page: Page) -> None:
    """Open the toolbar's "More" popover (momentum, Nesterov, betas, α, the LR schedule), where
    those knobs live so the toolbar stays one row; a no-op when it is open already."""
    menu = page.get_by_test_id("advanced-settings")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
