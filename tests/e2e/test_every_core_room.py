"""A class on a server with two workers (BACKPROP_WORKERS=2, as the Docker image runs on two
cores): the teacher clicks the tile of a student whose run the other worker trains, and sees
that run live on the page, relayed through Redis; then goes back to their own run."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import ClientConnection, connect

from app.store.keys import new_session_id
from tests.store.test_every_core import holder, start
from tests.support.live_server import LiveServer

from .page_helpers import open_lab
from .test_room import drain

FRAME = "window.backpropLab.store.frame"


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[LiveServer]:
    server = start(tmp_path / "data")
    yield server
    server.stop()


def playing_student(server: LiveServer, code: str, name: str, sockets: ExitStack) -> str:
    """A student's page as a socket (open until `sockets` closes): joins, plays, reads all it
    is sent; its run's id."""
    token = httpx.post(f"{server.url}/api/rooms/join", json={"code": code, "name": name}).json()
    session_id = new_session_id()
    url = server.url.replace("http", "ws") + f"/ws?session={session_id}"
    ws: ClientConnection = sockets.enter_context(connect(url, max_size=None))
    ws.send(json.dumps({"type": "hello", "session_id": session_id}))
    # Its run is open (and held by one worker) once the session message comes.
    while json.loads(ws.recv(timeout=30))["type"] != "session":
        pass
    for message in (
        {"type": "room_join", "code": code, "token": token["token"]},
        {"type": "control", "action": "play"},
    ):
        ws.send(json.dumps(message))
    threading.Thread(target=drain, args=(ws,), daemon=True).start()
    return session_id


def own_session(page: Page) -> str:
    return str(page.evaluate("() => sessionStorage.getItem('backprop-lab-session')"))


def test_the_teacher_watches_a_run_the_other_worker_trains(
    browser: Browser, two_workers: LiveServer
) -> None:
    teacher = browser.new_context(base_url=two_workers.url).new_page()
    errors = open_lab(teacher, width=1400, height=1000)
    teacher.get_by_test_id("start-class").click()
    expect(teacher.get_by_test_id("room-code")).to_have_text(re.compile(r"Class [A-Z2-9]{6}"))
    code = (teacher.get_by_test_id("room-code").text_content() or "").split()[-1]
    teachers_worker = holder(two_workers, own_session(teacher))
    # Students join until one trains on the other worker (each does one time in two).
    with ExitStack() as sockets:
        for attempt in range(20):
            name = f"Student {attempt}"
            if holder(two_workers, playing_student(two_workers, code, name, sockets)) != (
                teachers_worker
            ):
                break
        else:
            raise AssertionError("20 students all trained on the teacher's worker")
        tile = teacher.get_by_test_id("class-tile").filter(has_text=name)
        expect(tile).to_be_visible()
        tile.click()
        expect(teacher.get_by_test_id("room-banner")).to_contain_text(f"Watching {name}'s run")
        # The student's run, playing, on the teacher's page: its steps go up (the teacher's
        # own run never played).
        teacher.wait_for_function(f"() => {FRAME}?.status === 'running'")
        first = teacher.evaluate(f"() => {FRAME}.step")
        teacher.wait_for_function(f"() => {FRAME}.step > {first} + 100")
        expect(teacher.get_by_test_id("step-count")).not_to_have_text("0")
        teacher.get_by_test_id("watch-own").click()
        expect(teacher.get_by_test_id("room-banner")).not_to_contain_text("Watching")
        teacher.wait_for_function(f"() => {FRAME}.step === 0")
    assert errors == []
