"""The page across a server restart: it says so plainly, reconnects by itself, and its run
resumes from the server's store ("Resumed at step N"); a server that lost the run (another
store) keeps the person's settings from the URL while saying that the run's progress was lost."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.conftest import LiveServer

from .conftest import screenshot

# The page backs off up to 8 s between attempts; a restart takes a few seconds more.
RECONNECT_MS = 30_000
SETTINGS = "#dataset=xor&activation=relu&learningRate=0.1"


def restart_under_the_page(page: Page, server: LiveServer, data_dir: Path | None) -> LiveServer:
    """Three steps, SIGTERM (the page is told), then the server back on its port (with its
    store, or with an empty one in `data_dir`)."""
    page.goto(f"{server.url}/{SETTINGS}")
    page.wait_for_function("() => window.backpropLab && window.backpropLab.store.frame")
    for _ in range(3):
        page.get_by_test_id("step").click()
    expect(page.get_by_test_id("step-count")).to_have_text("3")

    port = server.port
    server.stop()  # SIGTERM: the page is told before its socket closes
    status = page.get_by_test_id("status")
    expect(status).to_have_attribute("data-state", "disconnected", timeout=RECONNECT_MS)
    expect(status).to_contain_text("The server is restarting")
    expect(status).to_be_in_viewport()  # a banner, wherever the page is scrolled
    expect(status).to_contain_text("reconnecting in")
    screenshot(page, "server-down")
    env = None if data_dir is None else {"BACKPROP_DATA_DIR": str(data_dir)}
    return LiveServer(env, port=port)


def test_after_a_server_restart_the_page_says_its_run_resumed_at_its_step(page: Page) -> None:
    server = LiveServer()  # its own: this test stops and restarts it
    try:
        server = restart_under_the_page(page, server, None)
        status = page.get_by_test_id("status")
        expect(status).to_contain_text("Resumed at step 3", timeout=RECONNECT_MS)
        expect(status).not_to_have_attribute("data-state", "disconnected")
        expect(page.get_by_test_id("step-count")).to_have_text("3")
        expect(page.get_by_test_id("learning-rate")).to_have_value("0.1")
        screenshot(page, "server-back-resumed")
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text("4")
    finally:
        server.stop()


def test_a_server_that_lost_the_run_keeps_the_settings_and_says_the_run_was_lost(
    page: Page, tmp_path: Path
) -> None:
    server = LiveServer()
    try:
        server = restart_under_the_page(page, server, tmp_path)
        status = page.get_by_test_id("status")
        expect(status).to_contain_text("progress was lost", timeout=RECONNECT_MS)
        expect(status).not_to_have_attribute("data-state", "disconnected")
        expect(page.get_by_test_id("step-count")).to_have_text("0")
        expect(page.get_by_test_id("dataset")).to_have_value("xor")
        expect(page.get_by_test_id("activation")).to_have_value("relu")
        expect(page.get_by_test_id("learning-rate")).to_have_value("0.1")
        expect(page).to_have_url(re.compile(r"activation=relu"))

        # The new run is a working one.
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text("1")
    finally:
        server.stop()


def test_while_the_server_is_unreachable_the_page_says_so_and_keeps_trying(page: Page) -> None:
    server = LiveServer()
    try:
        page.goto(server.url)
        page.wait_for_function("() => window.backpropLab && window.backpropLab.store.frame")
        server.process.kill()  # no SIGTERM notice: the server just vanishes
        server.process.wait()
        status = page.get_by_test_id("status")
        expect(status).to_have_attribute("data-state", "disconnected", timeout=RECONNECT_MS)
        expect(status).to_contain_text("cannot be reached")
        page.mouse.wheel(0, 2000)
        expect(status).to_be_in_viewport()
        expect(status).to_contain_text("reconnecting in")
        # Each failed attempt backs off further, and the page keeps counting down.
        expect(status).to_contain_text(re.compile(r"reconnecting in [1-8]\.\d s"), timeout=10_000)
    finally:
        server.stop()
