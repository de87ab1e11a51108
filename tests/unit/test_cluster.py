"""A server on every core, its parts that need no running engines: the core count, the nginx
site it renders, and the clear refusals when it cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import cli
from app.cluster import cores, supervisor
from app.cluster.nginx_config import listen_address, main_config, render_site
from app.settings import Settings
from tests.unit.test_cli import run_cli


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", None), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)],
)
def test_a_cgroup_quota_caps_the_cores(cpu_max: str, expected: int | None) -> None:
    assert cores.quota_cores(cpu_max) == expected


def test_usable_cores_are_the_affinity_capped_by_the_quota(tmp_path: Path) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    assert cores.usable_cores(quota) == 1
    assert cores.usable_cores(tmp_path / "absent") >= 1


def test_the_site_routes_runs_to_the_worker_sockets_as_shipped() -> None:
    sockets = ["unix:/run/a/worker-1.sock", "unix:/run/a/worker-2.sock"]
    site = render_site(sockets, listen_address("0.0.0.0", 8000))
    assert "listen 0.0.0.0:8000;" in site
    for path in sockets:
        assert f"server {path} max_fails=1 fail_timeout=5s;" in site
    assert "app1:8000" not in site and "app3:8000" not in site
    # The shipped affinity and websocket lines are kept.
    assert "hash $backprop_affinity consistent;" in site
    assert "proxy_set_header Host $http_host;" in site
    assert listen_address("::", 80) == "[::]:80"
    config = main_config(site, Path("/tmp/x"), error_log="stderr")
    assert "daemon off;" in config and "pid /tmp/x/nginx.pid;" in config


def test_several_workers_refuse_a_sqlite_store(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/runs.db", data_dir=tmp_path)
    with pytest.raises(supervisor.ClusterError, match="shares runs through Redis"):
        supervisor.Cluster("127.0.0.1", 8000, 2, settings)


def test_missing_engines_are_named_with_their_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(supervisor, "find_binary", lambda name: None)
    with pytest.raises(supervisor.ClusterError) as refused:
        supervisor.Cluster("127.0.0.1", 8000, 2, Settings(data_dir=tmp_path))
    message = str(refused.value)
    assert "nginx-light and redis-server" in message and "BACKPROP_WORKERS=1" in message
    # A Redis of one's own needs no redis-server here.
    assert supervisor.missing_engines(need_redis=False) == ["nginx-light"]


def test_auto_without_nginx_serves_in_one_process_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cores, "usable_cores", lambda: 4)
    monkeypatch.setattr(supervisor, "missing_engines", lambda need_redis: ["nginx-light"])
    assert cli.worker_count("auto") == 1
    assert "apt-get install nginx-light" in capsys.readouterr().err
    monkeypatch.setattr(supervisor, "missing_engines", lambda need_redis: [])
    assert cli.worker_count("auto") == 4
    assert cli.worker_count(3) == 3


def test_a_bad_worker_count_is_named_and_nothing_starts() -> None:
    result = run_cli("serve", "--workers", "0")
    assert result.returncode != 0 and "a number from 1 to 64, or auto" in result.stderr
    result = run_cli("serve", env={"BACKPROP_WORKERS": "many"})
    assert result.returncode != 0 and "BACKPROP_WORKERS='many'" in result.stderr
