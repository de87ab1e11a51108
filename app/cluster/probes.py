"""Is it answering yet: a worker's /healthz on its unix socket, Redis's PING, nginx's port."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import redis


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("worker", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def worker_get(socket_path: str, path: str) -> tuple[int, bytes] | None:
    """GET `path` of one worker on its own socket: (status, body), None when it does not answer."""
    connection = _UnixConnection(socket_path, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def worker_health(socket_path: str) -> dict[str, Any] | None:
    """A worker's /healthz, asked on its own socket; None while it does not answer 200."""
    answer = worker_get(socket_path, "/healthz")
    if answer is None or answer[0] != 200:
        return None
    try:
        health: dict[str, Any] = json.loads(answer[1])
    except ValueError:
        return None
    return health


def worker_healthy(socket_path: str) -> bool:
    return worker_health(socket_path) is not None


def redis_answers(socket_path: str) -> bool:
    try:
        client = redis.Redis(unix_socket_path=socket_path, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def port_open(host: str, port: int) -> bool:
    # A wildcard listen address is reached on loopback.
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=1):
            return True
    except OSError:
        return False
