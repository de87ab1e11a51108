"""A real uvicorn server of the app on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def rss_mb(pid: int) -> float:
    """A process's resident memory, as the kernel counts it (benchmarks and memory tests)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, extra_env: dict[str, str] | None = None, port: int | None = None) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        # A given port restarts a server where its pages expect it.
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / f"server-{self.port}.log"
        env = {**os.environ, **(extra_env or {})}
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",  # as `make run` and the Docker image start it
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()

    def _wait_until_ready(self, timeout_seconds: float = 90.0) -> None:
        # Generous: starting takes a few seconds (importing torch), many more on a busy machine.
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout_seconds}s:\n{self.log()}")

    def log(self) -> str:
        # Also after stop(): a failure in the last test's teardown still shows the server log.
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()[-5000:]

    def kill(self) -> None:
        """SIGKILL to this server's own PID: no shutdown at all, as when a machine is lost."""
        self.process.kill()
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            # A server on every core stops its workers, then nginx and Redis, one after another.
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
