"""The processes of a server on every core, each started, probed, stopped and restarted alike."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("backprop.cluster")

PR_SET_PDEATHSIG = 1
# A worker that keeps dying is restarted ever more slowly, up to this; one that lived this long
# starts over at the shortest wait.
FIRST_RESTART_SECONDS = 1.0
LONGEST_RESTART_SECONDS = 30.0
HEALTHY_LIFETIME_SECONDS = 60.0


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies, even by SIGKILL, so no
    worker, nginx or Redis outlives it holding the port or the socket."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready: Callable[[], bool]  # answers requests (False while it starts)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_wait: float = FIRST_RESTART_SECONDS
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        # Its own process group: a Ctrl-C in the terminal reaches the supervisor alone, which
        # stops the children in order (workers first, while nginx still carries their notices).
        self.process = subprocess.Popen(
            self.argv, env=self.env, process_group=0, preexec_fn=_die_with_parent
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def exited(self) -> int | None:
        """Its exit status, the first time it is seen to have exited (None while it runs)."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        self.exits.append(code)
        self.process = None
        return code

    def schedule_restart(self) -> float:
        if time.monotonic() - self.started_at > HEALTHY_LIFETIME_SECONDS:
            self.restart_wait = FIRST_RESTART_SECONDS
        wait = self.restart_wait
        self.restart_at = time.monotonic() + wait
        self.restart_wait = min(LONGEST_RESTART_SECONDS, wait * 2)
        return wait

    def due(self) -> bool:
        return self.restart_at is not None and time.monotonic() >= self.restart_at

    def wait_until_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited while starting")
            if self.ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready within {timeout_seconds:.0f} s")

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout_seconds: float) -> None:
        """Until it exits; killed after `timeout_seconds`."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killed", self.name, timeout_seconds)
            self.process.kill()
            self.process.wait()
        self.process = None


def child_env(**overrides: str) -> dict[str, str]:
    return {**os.environ, **overrides}
