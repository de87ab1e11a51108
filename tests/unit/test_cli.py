"""The console command: version, a bad setting named before the server starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("backprop-lab 0.")


def test_a_bad_setting_is_named_and_nothing_starts() -> None:
    result = run_cli("serve", env={"BACKPROP_MAX_SESSIONS": "0"})
    assert result.returncode != 0
    assert "BACKPROP_MAX_SESSIONS='0'" in result.stderr
    assert "greater than or equal to 1" in result.stderr


def test_compose_file_builds_this_image_with_a_health_check_and_limits() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["backprop-lab"]
    assert service["build"] == "."
    assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "app.healthcheck"]
    assert service["restart"] == "unless-stopped"
    assert service["mem_limit"]
