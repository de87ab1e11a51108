"""How many cores this process may use: its CPU affinity, capped by a cgroup CPU quota."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def quota_cores(cpu_max: str) -> int | None:
    """cgroup v2's `cpu.max` ("max 100000" or "150000 100000"): whole cores it allows, or None."""
    parts = cpu_max.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    # 1.5 cores of quota serve two processes better than one: a round up, never below one.
    return max(1, math.ceil(quota / period)) if period > 0 else None


def usable_cores(cpu_max_file: Path = CGROUP_CPU_MAX) -> int:
    """A container limited with `--cpus` sees every core of its host in its affinity."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota = quota_cores(cpu_max_file.read_text())
    except OSError:
        quota = None
    return min(cores, quota) if quota else cores
