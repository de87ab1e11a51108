"""The shipped nginx site on loopback in front of two trivial HTTP servers: affinity by session
id, spread without one, websocket upgrade headers passed on, a dead upstream skipped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from app.store.keys import new_session_id
from tests.support.nginx_server import NginxServer


class Upstream:
    """An HTTP server that answers with its name and remembers the headers it was sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.headers: list[dict[str, str]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
                upstream.headers.append({k.lower(): v for k, v in self.headers.items()})
                body = upstream.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams() -> Iterator[list[Upstream]]:
    servers = [Upstream("one"), Upstream("two")]
    yield servers
    for server in servers:
        server.close()


@pytest.fixture
def nginx(upstreams: list[Upstream]) -> Iterator[NginxServer]:
    server = NginxServer([u.port for u in upstreams])
    yield server
    server.stop()


def test_a_session_always_reaches_the_same_upstream_and_sessions_spread(
    nginx: NginxServer,
) -> None:
    with httpx.Client(base_url=nginx.url, timeout=10) as client:
        answers = {}
        for _ in range(20):
            session = new_session_id()
            seen = {client.get("/ws", params={"session": session}).text for _ in range(3)}
            assert len(seen) == 1, f"session {session} reached {seen}"
            answers[session] = seen.pop()
        assert set(answers.values()) == {"one", "two"}
        unnamed = {client.get("/").text for _ in range(30)}
        assert unnamed == {"one", "two"}
    assert all(status == "200" for _, _, status in nginx.served())


def test_the_websocket_upgrade_is_passed_to_the_upstream(
    nginx: NginxServer, upstreams: list[Upstream]
) -> None:
    headers = {"Upgrade": "websocket", "Connection": "Upgrade"}
    with httpx.Client(base_url=nginx.url, timeout=10) as client:
        client.get("/ws", params={"session": new_session_id()}, headers=headers)
        client.get("/plain", params={"session": new_session_id()})
    sent = [h for u in upstreams for h in u.headers]
    upgraded = [h for h in sent if h.get("upgrade") == "websocket"]
    assert len(upgraded) == 1 and upgraded[0]["connection"] == "upgrade"
    assert any(h.get("connection") == "close" and "upgrade" not in h for h in sent)


def test_when_an_upstream_dies_its_sessions_go_to_the_other(
    nginx: NginxServer, upstreams: list[Upstream]
) -> None:
    with httpx.Client(base_url=nginx.url, timeout=10) as client:
        sessions = {new_session_id(): "" for _ in range(10)}
        for session in sessions:
            sessions[session] = client.get("/", params={"session": session}).text
        dead = upstreams[0]
        dead.close()
        for session, before in sessions.items():
            answer = client.get("/", params={"session": session})
            assert answer.status_code == 200
            assert answer.text == (before if before != dead.name else "two")
