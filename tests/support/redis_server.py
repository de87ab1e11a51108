"""A real redis-server on a free loopback port, from its own temporary config; stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.live_server import free_port

READY_TIMEOUT_SECONDS = 10.0


def require_binary(name: str) -> str:
    """The path of `name`; skips the test where it is missing, but fails it on CI (CI=true),
    where .ci/run installs it: a missing server must not pass as a skipped test there."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        message = f"{name} is not installed (apt-get install {name}); this test needs a real one"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class RedisServer:
    """`password`: started with requirepass. `tls`: it speaks only TLS, with a self-signed
    certificate made here (the URL names it as the CA to trust)."""

    def __init__(self, password: str | None = None, tls: bool = False) -> None:
        self.binary = require_binary("redis-server")
        self.password = password
        self.tls = tls
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self.certificate = self.folder / "cert.pem"
        if tls:
            self._make_certificate()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _make_certificate(self) -> None:
        subprocess.run(
            [
                require_binary("openssl"),
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(self.folder / "key.pem"),
                "-out",
                str(self.certificate),
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        config = self.folder / "redis.conf"
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            "protected-mode yes",
            'save ""',
            "appendonly no",
            "daemonize no",
            f"dir {self.folder}",
            f"pidfile {self.folder / 'redis.pid'}",
            f"logfile {self.folder / 'redis.log'}",
        ]
        if self.password:
            lines.append(f"requirepass {self.password}")
        if self.tls:
            lines[1] = "port 0"
            lines += [
                f"tls-port {self.port}",
                f"tls-cert-file {self.certificate}",
                f"tls-key-file {self.folder / 'key.pem'}",
                "tls-auth-clients no",
            ]
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [self.binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start:\n{self.log()}")
            if self._answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer within {READY_TIMEOUT_SECONDS} s")

    def _answers(self) -> bool:
        command = b"PING\r\n"
        if self.password:
            command = f"AUTH {self.password}\r\n".encode() + command
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as plain:
                if not self.tls:
                    return self._pinged(plain, command)
                context = ssl.create_default_context(cafile=self.certificate)
                with context.wrap_socket(plain, server_hostname="127.0.0.1") as secure:
                    return self._pinged(secure, command)
        except OSError:
            return False

    @staticmethod
    def _pinged(connection: socket.socket, command: bytes) -> bool:
        connection.sendall(command)
        return b"PONG" in connection.recv(100) or b"PONG" in connection.recv(100)

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM to this server's own PID, then SIGKILL if it lingers."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
