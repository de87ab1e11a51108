"""A real nginx on a free loopback port in front of given upstream ports; stopped by PID.

Its site is deploy/nginx/backprop.conf itself (the file compose.scale.yaml mounts), rendered
as the server on every core renders it (app/cluster/nginx_config.py), so the tests exercise the
shipped affinity and websocket settings. Everything nginx writes goes into a temporary folder.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from app.cluster.nginx_config import main_config, make_temp_paths, render_site
from tests.support.live_server import free_port
from tests.support.redis_server import require_binary

READY_TIMEOUT_SECONDS = 10.0


class NginxServer:
    def __init__(self, upstream_ports: list[int], port: int | None = None) -> None:
        """`port`: where it listens (a free one by default)."""
        self.binary = require_binary("nginx")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="nginx-test-"))
        make_temp_paths(self.folder)
        upstreams = [f"127.0.0.1:{port}" for port in upstream_ports]
        self.config = self.folder / "nginx.conf"
        site = render_site(upstreams, f"127.0.0.1:{self.port}")
        access = f"{self._path('access')} upstreams"
        self.config.write_text(main_config(site, self.folder, self._path("error"), access))
        self.process = subprocess.Popen(
            [
                self.binary,
                "-c",
                str(self.config),
                "-p",
                str(self.folder),
                "-e",
                self._path("error"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready()

    def _path(self, name: str) -> str:
        return str(self.folder / f"{name}.log")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited at start:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen within {READY_TIMEOUT_SECONDS} s")

    def log(self) -> str:
        path = Path(self._path("error"))
        return path.read_text(errors="replace") if path.exists() else ""

    def served(self) -> list[tuple[str, str, str]]:
        """(session, upstream address(es), status) of every request so far (nginx writes each
        line when the request ends)."""
        path = Path(self._path("access"))
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        return [(parts[0], parts[1], parts[2]) for parts in (line.split("|") for line in lines)]

    def stop(self) -> None:
        """SIGTERM (fast shutdown, open websockets too) to this nginx's own master PID."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
