"""Two replicas behind the shipped nginx site, their runs in a real Redis: a page's run stays
on one replica, moves to the other when its replica is killed (resumed from its last write,
settings intact), and a stopped Redis degrades the replicas without stopping training."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from app.store.keys import new_session_id
from app.store.redis_store import RedisStore
from tests.protocol.helpers import strict_loads
from tests.store.pages import Page, health, redis_stored_step, wait_until
from tests.support.live_server import LiveServer
from tests.support.nginx_server import NginxServer
from tests.support.redis_server import RedisServer

SETTINGS = {"learning_rate": 0.2, "optimizer": "rmsprop"}


@pytest.fixture
def replicas(redis_server: RedisServer) -> Iterator[list[LiveServer]]:
    servers = [LiveServer({"BACKPROP_STORE_URL": redis_server.url}) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def nginx(replicas: list[LiveServer]) -> Iterator[NginxServer]:
    server = NginxServer([replica.port for replica in replicas])
    yield server
    server.stop()


def stored(redis_server: RedisServer, session_id: str) -> int | None:
    return redis_stored_step(redis_server.url, session_id)


def serving(replicas: list[LiveServer]) -> list[LiveServer]:
    """The replicas a page is attached to."""
    return [r for r in replicas if r.process.poll() is None and health(r.url)["attached"]]


def test_a_run_stays_on_one_replica_and_moves_to_the_other_when_its_replica_is_killed(
    redis_server: RedisServer, replicas: list[LiveServer], nginx: NginxServer
) -> None:
    session_id = new_session_id()
    page = Page(nginx.url, session_id)
    assert page.hello()["resumed"] is False
    page.send({"type": "set", **SETTINGS})
    page.send({"type": "control", "action": "play"})
    seen = page.frame_at_least(200)["step"]
    # Its routes reach the same replica as its socket.
    (home,) = serving(replicas)
    for _ in range(5):
        assert Page(nginx.url, session_id).hello()["resumed"] is True
    assert serving(replicas) == [home]
    wait_until(lambda: (stored(redis_server, session_id) or 0) >= seen, "a write to Redis")

    home.kill()
    page.frames_until_closed()
    kept = stored(redis_server, session_id)
    assert kept is not None and kept >= seen
    # The page reconnects through nginx, as its socket.js does: the other replica resumes it.
    page = Page(nginx.url, session_id)
    info = page.hello()
    assert (info["resumed"], info["resumed_step"]) == (True, kept)
    assert {k: info["config"]["training"][k] for k in SETTINGS} == SETTINGS
    assert page.frame_at_least(kept + 1)["status"] == "running"
    (other,) = serving(replicas)
    assert other is not home


def test_twenty_runs_spread_over_both_replicas(
    replicas: list[LiveServer], nginx: NginxServer
) -> None:
    pages = [Page(nginx.url, new_session_id()) for _ in range(20)]
    for page in pages:
        page.hello()
    attached = [health(r.url)["attached"] for r in replicas]
    assert sum(attached) == 20 and min(attached) > 0
    for page in pages:
        page.close()


def test_with_redis_stopped_training_goes_on_degraded_and_catches_up_when_it_returns(
    redis_server: RedisServer, replicas: list[LiveServer]
) -> None:
    server, session_id = replicas[0], new_session_id()
    page = Page(server.url, session_id)
    page.hello()
    page.send({"type": "control", "action": "play"})
    page.frame_at_least(10)
    assert health(server.url)["store"]["status"] == "ok"

    redis_server.stop()
    wait_until(lambda: health(server.url)["store"]["status"] == "degraded", "degraded")
    store = health(server.url)["store"]
    assert store["reason"] and store["pending"] >= 1
    step = page.receive("frame")["step"]
    seen = page.frame_at_least(step + 100)["step"]  # training goes on
    # A page asking for a run meanwhile starts afresh, told why.
    newcomer = Page(server.url, new_session_id())
    info = newcomer.hello()
    assert info["resumed"] is False and "store unavailable" in info["notice"]
    newcomer.close()

    redis_server.start()
    wait_until(lambda: health(server.url)["store"]["status"] == "ok", "back to ok")
    wait_until(lambda: (stored(redis_server, session_id) or 0) >= seen, "the run caught up")
    page.close()


def test_a_run_resumed_on_another_replica_is_dropped_by_the_first_and_its_page_told(
    redis_server: RedisServer, replicas: list[LiveServer]
) -> None:
    first, second = replicas
    session_id = new_session_id()
    stale = Page(first.url, session_id)
    stale.hello()
    stale.send({"type": "control", "action": "play"})
    seen = stale.frame_at_least(50)["step"]
    wait_until(lambda: (stored(redis_server, session_id) or 0) >= seen, "a write to Redis")
    # The page's replica seemed gone and the run was resumed elsewhere, but it lives on.
    moved = Page(second.url, session_id)
    info = moved.hello()
    assert info["resumed"] is True
    # The first replica's next write is refused: it drops its copy and sends its page on.
    notice = stale.receive("shutdown")
    assert "moved to another server" in notice["message"]
    stale.frames_until_closed()
    wait_until(lambda: health(first.url)["sessions"] == 0, "the stale copy to go")
    assert moved.frame_at_least(info["resumed_step"] + 1)["status"] == "running"


def test_a_digits_run_left_on_one_replica_is_resumed_by_the_other_from_redis(
    redis_server: RedisServer, replicas: list[LiveServer]
) -> None:
    def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
        while True:
            message = strict_loads(str(ws.recv(timeout=30)))
            if message["type"] == kind:
                return message

    def in_redis() -> bool:
        async def read() -> bytes | None:
            store = RedisStore(redis_server.url, ttl_seconds=3600)
            try:
                return await store.get(run_id)
            finally:
                await store.close()

        return asyncio.run(read()) is not None

    run_id = new_session_id()
    first, second = (r.url.replace("http://", "ws://") + "/ws/images" for r in replicas)
    with connect(f"{first}?session={run_id}") as ws:
        next_of(ws, "image_frame")
        for _ in range(3):
            ws.send(json.dumps({"type": "image_control", "action": "step"}))
        frame = next_of(ws, "image_frame")
        while frame["step"] != 3:
            frame = next_of(ws, "image_frame")
    wait_until(in_redis, "the first replica to write the run its page left")
    with connect(f"{second}?session={run_id}") as ws:
        assert next_of(ws, "image_session")["resumed"] is True
        again = next_of(ws, "image_frame")
        assert again["step"] == 3
        assert again["filters"]["weights"] == frame["filters"]["weights"]
