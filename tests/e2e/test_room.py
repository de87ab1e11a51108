"""A class in the browser: a teacher starts it, two students join, the teacher sees their
tiles, pushes a challenge, locks the controls, spotlights a run and exports the results."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

import httpx
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import LiveServer

from .conftest import screenshot
from .page_helpers import READY, open_lab

XSS_NAME = "<img src=x onerror=alert(1)>"


def student_joins(page: Page, path: str, code: str | None, name: str) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(path)
    if code is not None:
        page.get_by_test_id("join-code").fill(code)
    page.get_by_test_id("display-name").fill(name)
    page.get_by_test_id("join").click()
    page.wait_for_url(re.compile(r"/(#.*)?$"))
    page.wait_for_function(READY)
    return errors


@contextmanager
def more_students(url: str, code: str, settings: list[dict[str, object]]) -> Iterator[None]:
    """Students without a browser (sockets that train and read all they are sent), so the
    class view's picture shows a fuller class than two pages."""
    threads = []
    with ExitStack() as sockets:
        for i, change in enumerate(settings):
            token = httpx.post(f"{url}/api/rooms/join", json={"code": code, "name": NAMES[i]})
            ws = sockets.enter_context(connect(url.replace("http", "ws") + "/ws", max_size=None))
            for message in (
                {"type": "hello"},
                {"type": "room_join", "code": code, "token": token.json()["token"]},
                {"type": "set", **change},
                {"type": "control", "action": "play"},
            ):
                ws.send(json.dumps(message))
            thread = threading.Thread(target=drain, args=(ws,), daemon=True)
            thread.start()
            threads.append(thread)
        yield
    for thread in threads:
        thread.join(timeout=10)


def drain(ws: ClientConnection) -> None:
    with suppress(ConnectionClosed):
        for _ in ws:
            pass


NAMES = ["Chen", "Dara", "Emil", "Fatima"]


def test_a_teacher_and_two_students_run_a_class(browser: Browser, live_server: LiveServer) -> None:
    teacher = browser.new_context(base_url=live_server.url).new_page()
    teacher_errors = open_lab(teacher, width=1400, height=1000)
    teacher.get_by_test_id("start-class").click()
    expect(teacher.get_by_test_id("room-code")).to_have_text(re.compile(r"Class [A-Z2-9]{6}"))
    code = (teacher.get_by_test_id("room-code").text_content() or "").split()[-1]
    expect(teacher.get_by_test_id("class-view")).to_be_visible()

    ann = browser.new_context(base_url=live_server.url).new_page()
    ann_errors = student_joins(ann, f"/join/{code}", None, XSS_NAME)
    bea = browser.new_context(base_url=live_server.url).new_page()
    bea_errors = student_joins(bea, "/join", code, "Bea")
    for student in (ann, bea):
        expect(student.get_by_test_id("room-code")).to_have_text(f"Class {code}")
        expect(student.get_by_test_id("class-view")).to_be_hidden()
        student.get_by_test_id("play").click()

    tiles = teacher.get_by_test_id("class-tile")
    expect(tiles).to_have_count(2)
    # The name is text: shown as typed, and no image element came of it.
    expect(tiles.filter(has_text=XSS_NAME)).to_have_count(1)
    assert teacher.locator(".class-view img").count() == 0

    teacher.get_by_test_id("push-choice").select_option("challenge:xor-without-product")
    teacher.get_by_test_id("push-lesson").click()
    for student in (ann, bea):
        expect(student.get_by_test_id("challenge")).to_have_text("XOR without x₁x₂")
        expect(student.get_by_test_id("challenge-status")).not_to_be_empty()
        expect(student.get_by_test_id("dataset")).to_have_value("xor")

    teacher.get_by_test_id("lock-controls").click()
    expect(ann.locator("body")).to_have_class(re.compile("room-locked"))
    expect(ann.get_by_test_id("room-banner")).to_contain_text("Eyes on me")
    teacher.get_by_test_id("lock-controls").click()
    expect(ann.locator("body")).not_to_have_class(re.compile("room-locked"))

    # The teacher watches Bea's run, then spotlights it on every screen.
    tiles.filter(has_text="Bea").click()
    expect(teacher.get_by_test_id("room-banner")).to_contain_text("Watching Bea's run")
    teacher.get_by_test_id("spotlight").click()
    expect(ann.get_by_test_id("room-banner")).to_contain_text("Watching Bea's run")
    teacher.get_by_test_id("sort-tiles").select_option("loss")
    changes: list[dict[str, object]] = [
        {"learning_rate": 0.3},
        {"activation": "relu"},
        {"learning_rate": 1.0, "optimizer": "adam"},
        {},
    ]
    with more_students(live_server.url, code, changes):
        expect(tiles).to_have_count(6)
        teacher.wait_for_timeout(3000)  # a few tile refreshes for the picture below
        screenshot(teacher, "class-view")

    with teacher.expect_download() as download:
        teacher.get_by_test_id("export-results").click()
    assert download.value.suggested_filename == f"class-{code}.csv"
    assert teacher_errors == [] and ann_errors == [] and bea_errors == []
