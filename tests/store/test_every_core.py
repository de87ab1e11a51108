"""One server on every core (BACKPROP_WORKERS=2): `python -m app serve` starts its own Redis,
two workers and nginx, as the Docker image does. A class spreads over the workers and each run
stays on one; a killed worker is started again and its runs resume; SIGTERM stops every process
and the runs resume after a restart."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from app.cluster.probes import port_open, worker_get, worker_health
from app.store.keys import new_session_id
from tests.store.pages import Page, redis_stored_step, wait_until
from tests.support.live_server import LiveServer
from tests.support.redis_server import require_binary


def start(data_dir: Path, port: int | None = None) -> LiveServer:
    require_binary("nginx")
    require_binary("redis-server")
    return LiveServer({"BACKPROP_WORKERS": "2", "BACKPROP_DATA_DIR": str(data_dir)}, port=port)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own (one that kills a worker)."""
    server = start(tmp_path / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the tests that only open runs on it: starting two workers costs seconds."""
    server = start(tmp_path_factory.mktemp("every-core") / "data")
    yield server
    server.stop()


def children(pid: int) -> dict[str, int]:
    """The supervisor's processes by role: "redis", "nginx", or a worker's socket path."""
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        pids = [int(p) for p in listing.read().split()]
    roles = {}
    for child in pids:
        with open(f"/proc/{child}/cmdline", "rb") as cmdline:
            argv = cmdline.read().decode().split("\0")
        if "--uds" in argv:
            roles[argv[argv.index("--uds") + 1]] = child
        else:
            roles["nginx" if "nginx" in argv[0] else "redis"] = child
    return roles


def worker_sockets(server: LiveServer) -> list[str]:
    return sorted(role for role in children(server.process.pid) if role.endswith(".sock"))


def attached(socket_path: str) -> int:
    """Pages attached to one worker, asked on its own socket (not through nginx)."""
    health = worker_health(socket_path)
    assert health is not None, f"no answer on {socket_path}"
    return int(health["attached"])


def playing_page(url: str, session_id: str) -> Page:
    page = Page(url, session_id, origin=url)
    page.hello()
    page.send({"type": "set", "learning_rate": 0.1, "optimizer": "adam"})
    page.send({"type": "control", "action": "play"})
    return page


def test_a_class_spreads_over_the_workers_and_each_run_stays_on_one(shared: LiveServer) -> None:
    server = shared
    sockets = worker_sockets(server)
    before = [attached(path) for path in sockets]
    assert len(sockets) == 2 and set(children(server.process.pid)) >= {"nginx", "redis"}
    # A browser's Origin passes the check behind nginx (nginx passes the Host with its port).
    pages = [Page(server.url, new_session_id(), origin=server.url) for _ in range(20)]
    for page in pages:
        page.hello()
    counts = [attached(path) - earlier for path, earlier in zip(sockets, before, strict=True)]
    assert sum(counts) == 20 and min(counts) > 0, counts
    # A run's HTTP routes reach the worker that holds it: each of the 20 answers, none 404s.
    for page in pages:
        sid = page.session_id
        response = httpx.get(f"{server.url}/api/sessions/{sid}/code.py?session={sid}", timeout=10)
        assert response.status_code == 200, response.text
        assert "import torch" in response.text
    # And reopening a page lands on the same worker: the counts do not move.
    for page in pages[:5]:
        assert Page(server.url, page.session_id).hello()["resumed"] is True
    assert [attached(p) - b for p, b in zip(sockets, before, strict=True)] == counts
    for page in pages:
        page.close()


def test_a_killed_worker_is_started_again_and_its_run_resumes(server: LiveServer) -> None:
    session_id = new_session_id()
    page = playing_page(server.url, session_id)
    seen = page.frame_at_least(200)["step"]
    (home,) = [path for path in worker_sockets(server) if attached(path)]
    # The server's own Redis, on the socket next to the workers'.
    redis_url = f"unix://{Path(home).parent / 'redis.sock'}"
    wait_until(lambda: (redis_stored_step(redis_url, session_id) or 0) >= seen, "a Redis write")
    kept = redis_stored_step(redis_url, session_id)
    killed = children(server.process.pid)[home]
    os.kill(killed, signal.SIGKILL)
    page.frames_until_closed()
    # The page reconnects, as its socket.js does: the other worker resumes the run from Redis.
    page = Page(server.url, session_id)
    info = page.hello()
    assert info["resumed"] is True and info["resumed_step"] >= (kept or 0) >= seen
    assert page.frame_at_least(info["resumed_step"] + 1)["status"] == "running"
    # And the supervisor starts the killed worker again on its socket.
    wait_until(
        lambda: children(server.process.pid).get(home, killed) != killed,
        "the killed worker started again",
    )
    wait_until(lambda: worker_health(home) is not None, "the new worker answering")
    page.close()


def test_sigterm_stops_every_process_and_the_runs_resume_after_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start(data_dir)
    session_id = new_session_id()
    try:
        page = playing_page(server.url, session_id)
        page.frame_at_least(200)
        processes = children(server.process.pid)
        server.process.send_signal(signal.SIGTERM)
        last = page.frames_until_closed()[-1]
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    for role, pid in processes.items():
        assert not os.path.exists(f"/proc/{pid}"), f"{role} outlived the server"
    assert not port_open("127.0.0.1", server.port)
    server = start(data_dir, port=server.port)
    try:
        info = Page(server.url, session_id).hello()
        assert (info["resumed"], info["resumed_step"]) == (True, last["step"])
    finally:
        server.stop()


def holder(server: LiveServer, session_id: str, route: str = "/api/sessions/{}/code.py") -> str:
    """The worker socket whose memory holds the run: its HTTP `route` answers only there."""
    for path in worker_sockets(server):
        answer = worker_get(path, route.format(session_id))
        if answer is not None and answer[0] == 200:
            return path
    raise AssertionError(f"no worker holds {session_id}")


def room_member(server: LiveServer, message: dict[str, Any]) -> tuple[Page, dict[str, Any]]:
    page = Page(server.url, new_session_id(), origin=server.url)
    page.hello()
    page.send(message)
    return page, page.receive("room_state")


def test_a_teacher_watches_a_run_that_the_other_worker_holds(shared: LiveServer) -> None:
    server = shared
    room = httpx.post(f"{server.url}/api/rooms", timeout=10).json()
    code = room["code"]
    teacher, _ = room_member(server, {"type": "room_teach", "code": code, "secret": room["secret"]})
    teachers_worker = holder(server, teacher.session_id)
    # Students join until one's run is on the other worker (each lands there one time in two).
    for attempt in range(20):
        joined = httpx.post(
            f"{server.url}/api/rooms/join", json={"code": code, "name": f"s{attempt}"}, timeout=10
        ).json()
        join = {"type": "room_join", "code": code, "token": joined["token"]}
        student, _ = room_member(server, join)
        if holder(server, student.session_id) != teachers_worker:
            break
        student.close()
    else:
        raise AssertionError("20 students all landed on the teacher's worker")
    student.send({"type": "control", "action": "play"})
    played = student.frame_at_least(100)["step"]

    teacher.send({"type": "room_watch", "student": joined["student"]})
    while teacher.receive("room_state")["watching"] != joined["student"]:
        pass
    # The student's run, relayed: it trains on the other worker, under the teacher's eyes.
    first = teacher.frame_at_least(played)
    later = teacher.frame_at_least(first["step"] + 50)
    assert later["status"] == "running" and later["step"] > first["step"] >= played
    assert holder(server, student.session_id) != teachers_worker, "the run moved"
    # Read-only, as a watch on one worker is.
    teacher.send({"type": "control", "action": "reset"})
    assert "read-only" in teacher.receive("error")["message"]
    # Back to the teacher's own run: not playing, at step 0.
    teacher.send({"type": "room_watch", "student": None})
    while teacher.receive("room_state")["watching"] is not None:
        pass
    own = teacher.receive("frame")
    while own["status"] == "running":
        own = teacher.receive("frame")
    assert own["step"] == 0
    # A hello on the socket while watching (the page's own reconnect logic does it on a new
    # socket; a script may on the same one) ends the relayed watch as well.
    teacher.send({"type": "room_watch", "student": joined["student"]})
    teacher.frame_at_least(played)
    assert teacher.hello()["session_id"] == teacher.session_id
    own = teacher.receive("frame")
    while own["status"] == "running":
        own = teacher.receive("frame")
    assert own["step"] == 0
    teacher.close()
    student.close()


def test_every_digits_run_downloads_from_the_worker_that_holds_it(shared: LiveServer) -> None:
    """The digits page's history links name the run in ?session= (static/js/images/channel.js),
    so nginx sends each download to the worker whose memory holds the run."""
    server = shared
    ws_url = server.url.replace("http://", "ws://") + "/ws/images"
    digits_route = "/api/images/{}/runs/1/history.json"
    holders: list[str] = []
    # Runs until both workers hold some (each lands on either one time in two).
    while len(set(holders)) < 2 or len(holders) < 4:
        assert len(holders) < 30, "30 runs all on one worker"
        run_id = new_session_id()
        with connect(f"{ws_url}?session={run_id}", origin=server.url) as ws:  # type: ignore[arg-type]
            ws.send(json.dumps({"type": "image_control", "action": "step"}))
            while (frame := json.loads(ws.recv(timeout=30)))["type"] != "image_frame" or frame[
                "step"
            ] < 1:
                pass
        download = f"/api/images/{run_id}/runs/1/history.csv?session={run_id}"
        response = httpx.get(server.url + download, timeout=10)
        assert response.status_code == 200, response.text
        assert response.text.startswith("step,")
        holders.append(holder(server, run_id, digits_route))


def test_a_spotlight_reaches_students_on_the_other_worker_through_one_relay(
    shared: LiveServer,
) -> None:
    server = shared
    room = httpx.post(f"{server.url}/api/rooms", timeout=10).json()
    code = room["code"]
    teacher, _ = room_member(server, {"type": "room_teach", "code": code, "secret": room["secret"]})

    def student(name: str) -> tuple[Page, dict[str, Any]]:
        joined = httpx.post(
            f"{server.url}/api/rooms/join", json={"code": code, "name": name}, timeout=10
        ).json()
        page, _ = room_member(server, {"type": "room_join", "code": code, "token": joined["token"]})
        return page, joined

    star, starred = student("star")
    star.send({"type": "control", "action": "play"})
    played = star.frame_at_least(100)["step"]
    stars_worker = holder(server, star.session_id)
    # Two students whose runs the other worker holds (each is there one time in two).
    followers: list[Page] = []
    for attempt in range(40):
        if len(followers) == 2:
            break
        page, _ = student(f"f{attempt}")
        if holder(server, page.session_id) != stars_worker:
            followers.append(page)
        else:
            page.close()
    assert len(followers) == 2, "40 students all on the star's worker"

    teacher.send({"type": "room_spotlight", "student": starred["student"]})
    for page in followers:
        # What each student's page does when a spotlight begins (static/js/room.js).
        while page.receive("room_state")["spotlight"] != starred["student"]:
            pass
        page.send({"type": "room_watch", "student": starred["student"]})
    for page in followers:
        while page.receive("room_state")["watching"] != starred["student"]:
            pass
        # The star's run, relayed: past the step it had reached, still playing.
        frame = page.frame_at_least(played + 50)
        assert frame["status"] == "running"
        page.close()
    teacher.close()
    star.close()
