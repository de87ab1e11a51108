"""A real nginx on a free loopback port in front of given upstream ports; stopped by PID.

Its site is deploy/nginx/backprop.conf itself (the file compose.scale.yaml mounts), with the
listen line and the upstream servers replaced, so the tests exercise the shipped affinity and
websocket settings. Everything nginx writes goes into a temporary folder.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.live_server import ROOT, free_port
from tests.support.redis_server import require_binary

SITE = ROOT / "deploy" / "nginx" / "backprop.conf"
READY_TIMEOUT_SECONDS = 10.0
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_UPSTREAM_LINE = re.compile(r"^(\s*)server \S+ (max_fails=.*;)$", re.MULTILINE)


def render_site(upstreams: list[str], listen: str) -> str:
    """deploy/nginx/backprop.conf with these upstream addresses and this listen address."""
    site = SITE.read_text()
    lines = _UPSTREAM_LINE.findall(site)
    if not lines:
        raise ValueError(f"{SITE} has no upstream server lines")
    indent, options = lines[0]
    servers = "\n".join(f"{indent}server {address} {options}" for address in upstreams)
    site = _UPSTREAM_LINE.sub("", site, count=len(lines) - 1)
    site = _UPSTREAM_LINE.sub(servers, site)
    rendered, count = re.subn(r"^(\s*)listen \S+;$", rf"\1listen {listen};", site, flags=re.M)
    if count != 1:
        raise ValueError(f"{SITE} should have exactly one listen line")
    return rendered


class NginxServer:
    def __init__(self, upstream_ports: list[int], port: int | None = None) -> None:
        """`port`: where it listens (a free one by default): known before the upstreams start,
        it can be among their allowed origins (nginx passes the Host without its port)."""
        self.binary = require_binary("nginx")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="nginx-test-"))
        # Workers may run as another user than the master (nobody, when started as root).
        self.folder.chmod(0o755)
        for name in TEMP_PATHS:
            (self.folder / name).mkdir(mode=0o777)
            (self.folder / name).chmod(0o777)
        upstreams = [f"127.0.0.1:{port}" for port in upstream_ports]
        self.config = self.folder / "nginx.conf"
        self.config.write_text(self._main_config(render_site(upstreams, f"127.0.0.1:{self.port}")))
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

    def _main_config(self, site: str) -> str:
        temp = "\n".join(f"    {name}_temp_path {self.folder / name};" for name in TEMP_PATHS)
        return f"""daemon off;
worker_processes 1;
pid {self.folder / "nginx.pid"};
error_log {self._path("error")} info;
events {{ worker_connections 256; }}
http {{
    log_format upstreams '$arg_session|$upstream_addr|$status';
    access_log {self._path("access")} upstreams;
{temp}
{site}
}}
"""

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
