"""One server on every core: Redis, N app workers on unix sockets, nginx on the public port.

Started in that order, each once the one before answers; stopped in the reverse order, so each
worker still reaches its pages through nginx to tell them it is going and writes its runs to
Redis before Redis saves and exits. A worker that dies is started again (its runs meanwhile
resume on the others, from Redis, as in the scaled deployment); nginx or Redis dying stops the
whole server with an error, for Docker's or systemd's restart policy to act on.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType

from app.cluster import nginx_config, probes
from app.cluster.children import Child, child_env
from app.settings import Settings

log = logging.getLogger("backprop.cluster")

# Importing torch and starting takes seconds, many more on a busy machine.
START_TIMEOUT_SECONDS = 120.0
# A worker's SIGTERM: its pages are told, every run is written (compose's stop_grace_period is
# 20 s for one process; Docker's default 10 s covers the workers stopping side by side).
WORKER_STOP_SECONDS = 8.0
WATCH_INTERVAL_SECONDS = 0.25


class ClusterError(RuntimeError):
    """The server on every core cannot start: the message says what to change."""


def find_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None
    )


def missing_engines(need_redis: bool) -> list[str]:
    """The Debian packages to install for several workers, of those not found."""
    missing = [] if find_binary("nginx") else ["nginx-light"]
    if need_redis and not find_binary("redis-server"):
        missing.append("redis-server")
    return missing


@dataclass
class Layout:
    """Where the server's private files live: sockets, nginx's config and temp files."""

    folder: Path

    def worker_socket(self, index: int) -> str:
        return str(self.folder / f"worker-{index}.sock")

    @property
    def redis_socket(self) -> str:
        return str(self.folder / "redis.sock")


def redis_child(layout: Layout, data_dir: Path) -> Child:
    """A Redis of the server's own on a private socket, its data in the data directory: runs
    survive a restart as they do in SQLite with one process (append-only file, fsync each s)."""
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    binary = find_binary("redis-server") or "redis-server"
    argv = [binary, "--port", "0", "--unixsocket", layout.redis_socket, "--unixsocketperm", "700"]
    argv += ["--dir", str(folder.resolve()), "--appendonly", "yes", "--save", ""]
    argv += ["--daemonize", "no", "--logfile", "", "--loglevel", "warning"]
    return Child("redis", argv, child_env(), partial(probes.redis_answers, layout.redis_socket))


def worker_child(layout: Layout, index: int, store_url: str) -> Child:
    path = layout.worker_socket(index)
    argv = [sys.executable, "-m", "app", "serve", "--uds", path]
    env = child_env(
        BACKPROP_WORKERS="1",
        BACKPROP_STORE_URL=store_url,
        # Only nginx reaches the socket (the folder is the server's own): trust its
        # X-Forwarded-For, so the limit on new runs counts each client's address.
        FORWARDED_ALLOW_IPS="*",
    )
    return Child(f"worker {index}", argv, env, partial(probes.worker_healthy, path))


def nginx_child(layout: Layout, host: str, port: int, workers: int) -> Child:
    upstreams = [f"unix:{layout.worker_socket(i)}" for i in range(1, workers + 1)]
    site = nginx_config.render_site(upstreams, nginx_config.listen_address(host, port))
    nginx_config.make_temp_paths(layout.folder)
    config = layout.folder / "nginx.conf"
    config.write_text(nginx_config.main_config(site, layout.folder, error_log="stderr"))
    binary = find_binary("nginx") or "nginx"
    argv = [binary, "-c", str(config), "-p", str(layout.folder), "-e", "stderr"]
    return Child("nginx", argv, child_env(), partial(probes.port_open, host, port))


class Cluster:
    def __init__(self, host: str, port: int, workers: int, settings: Settings) -> None:
        store_url = settings.store_url
        if store_url and not store_url.startswith(("redis://", "rediss://", "unix://")):
            raise ClusterError(
                f"BACKPROP_WORKERS={workers} shares runs through Redis: unset "
                "BACKPROP_STORE_URL (the server starts its own) or give a redis:// URL"
            )
        missing = missing_engines(need_redis=not store_url)
        if missing:
            raise ClusterError(
                f"BACKPROP_WORKERS={workers} needs {' and '.join(missing)} "
                f"(apt-get install {' '.join(missing)}), or BACKPROP_WORKERS=1 for one process"
            )
        self.layout = Layout(Path(tempfile.mkdtemp(prefix="backprop-lab-")))
        self.redis = None if store_url else redis_child(self.layout, settings.data_dir)
        url = store_url or f"unix://{self.layout.redis_socket}"
        self.workers = [worker_child(self.layout, i, url) for i in range(1, workers + 1)]
        self.nginx = nginx_child(self.layout, host, port, workers)
        self.host, self.port = host, port
        self._stopping = False

    def _engines(self) -> list[Child]:
        return [c for c in (self.redis, self.nginx) if c is not None]

    def start(self) -> None:
        if self.redis is not None:
            self.redis.start()
            self.redis.wait_until_ready(START_TIMEOUT_SECONDS)
        for worker in self.workers:  # side by side: each imports torch on its own core
            worker.start()
        for worker in self.workers:
            worker.wait_until_ready(START_TIMEOUT_SECONDS)
        self.nginx.start()
        self.nginx.wait_until_ready(START_TIMEOUT_SECONDS)
        log.info(
            "serving on http://%s with %d workers",
            nginx_config.listen_address(self.host, self.port),
            len(self.workers),
        )

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping the workers, then nginx and Redis", signal.Signals(signum).name)
        self._stopping = True

    def watch(self) -> int:
        """Until a stop is asked for (0) or nginx or Redis dies (1)."""
        while not self._stopping:
            for engine in self._engines():
                code = engine.exited()
                if code is not None:
                    log.error("%s exited (status %s): stopping the server", engine.name, code)
                    return 1
            for worker in self.workers:
                code = worker.exited()
                if code is not None:
                    wait = worker.schedule_restart()
                    log.error("%s exited (status %s): restart in %.0f s", worker.name, code, wait)
                elif worker.due():
                    worker.start()
            time.sleep(WATCH_INTERVAL_SECONDS)
        return 0

    def stop(self) -> None:
        for worker in self.workers:
            worker.signal(signal.SIGTERM)
        for worker in self.workers:
            worker.wait(WORKER_STOP_SECONDS)
        for engine in (self.nginx, self.redis):
            if engine is not None:
                engine.signal(signal.SIGTERM)  # nginx: fast shutdown; Redis: saves, then exits
                engine.wait(WORKER_STOP_SECONDS)
        shutil.rmtree(self.layout.folder, ignore_errors=True)


def serve_on_every_core(host: str, port: int, workers: int, settings: Settings) -> int:
    """Blocks until SIGTERM or SIGINT; the process's exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        cluster = Cluster(host, port, workers, settings)
    except ClusterError as error:
        log.error("%s", error)
        return 2
    signal.signal(signal.SIGTERM, cluster.request_stop)
    signal.signal(signal.SIGINT, cluster.request_stop)
    try:
        cluster.start()
        return cluster.watch()
    except RuntimeError as error:
        log.error("%s: stopping the server", error)
        return 1
    finally:
        cluster.stop()
