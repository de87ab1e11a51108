"""Browser tests: Debian's Chromium driven by Playwright against a real uvicorn server."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.conftest import ARTIFACTS, LiveServer

CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = "Chromium is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    args = [*browser_type_launch_args.get("args", []), "--disable-gpu", "--disable-quic"]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": args}


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


def loaded_lab(page: Page, tolerated: re.Pattern[str] | None = None) -> Iterator[Page]:
    """The app's page, loaded and connected; afterwards, no console error but `tolerated`."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1400, "height": 900})
    # At full speed: these tests wait for training to get somewhere, and the page's watchable
    # default pace (tests/e2e/test_pace.py) would only make them slower.
    page.goto("/#pace=0")
    page.wait_for_function("() => window.backpropLab && window.backpropLab.store.frame !== null")
    yield page
    unexpected = [e for e in errors if tolerated is None or not tolerated.search(e)]
    assert unexpected == [], f"the page logged errors: {unexpected}"


@pytest.fixture
def lab(page: Page, live_server: LiveServer) -> Iterator[Page]:
    yield from loaded_lab(page)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
