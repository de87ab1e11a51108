"""An axe-core audit of the page finds no serious or critical violations.

axe-core comes pinned from the npm registry (package-lock.json; `make install` runs `npm ci` into
node_modules/, test-only). The page's CSP rightly refuses injected scripts, so the audit runs in
a context that bypasses CSP — for this test only; every other test keeps it on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ARTIFACTS

from .page_helpers import READY

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@pytest.fixture
def audited_page(browser: Browser, base_url: str) -> Iterator[Page]:
    if not AXE.exists():
        message = f"axe-core is not installed ({AXE}); run `make install` (needs npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    context = browser.new_context(bypass_csp=True, base_url=base_url)
    page = context.new_page()
    yield page
    context.close()


def audit(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => axe.run(document, { resultTypes: ['violations'] })"
    )
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']} {v['id']}: {v['help']} — "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in v["nodes"][:5])
        for v in violations
    )


@pytest.mark.parametrize("state", ["just-loaded", "lesson-and-help-open"])
def test_axe_finds_no_serious_or_critical_violations(audited_page: Page, state: str) -> None:
    page = audited_page
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/")
    page.wait_for_function(READY)
    page.get_by_test_id("step").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    if state == "lesson-and-help-open":
        page.get_by_test_id("lessons").select_option("vanishing-gradients")
        page.get_by_text("Export", exact=True).click()
        page.keyboard.press("?")
    violations = audit(page)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{state}.txt").write_text(
        describe(violations) or "no serious or critical violations\n"
    )
    assert violations == [], describe(violations)
