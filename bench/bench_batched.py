"""The batched engine: a grouped step of K default runs against one eager step of one run.

`ratio` is the grouped step's time over the eager step's: what a step of the whole group costs
in eager steps of one run (below 1: K runs step for less than one). Grouped steps are timed in
bursts of BURST_STEPS, as the scheduler runs them, so each step carries its share of the
burst's bookkeeping (divergence check, counters). The two are timed in alternation, so a
machine whose speed drifts (shared cores) drifts both alike. One thread, as a training worker.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from app.training.stacked import RunGroup
from app.training.trainer import TrainingSession

BURST_STEPS = 10
ROUNDS = 15


def seconds(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


def run() -> Iterator[dict[str, Any]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield from _run()
    finally:
        torch.set_num_threads(threads)


def _run() -> Iterator[dict[str, Any]]:
    # The defaults: circle, 2→[4,2]→1 tanh, SGD lr 0.03, batch 10.
    alone = TrainingSession()
    for k in (20, 100):
        group = RunGroup([TrainingSession() for _ in range(k)])
        group.train_steps(BURST_STEPS)  # warm-up: allocation and dispatch caches
        alone.train_step()
        eager_us, grouped_us = [], []
        for _ in range(ROUNDS):
            eager_us.append(seconds(alone.train_step, 50) / 50 * 1e6)
            burst = seconds(lambda g=group: g.train_steps(BURST_STEPS), 5)  # type: ignore[misc]
            grouped_us.append(burst / (5 * BURST_STEPS) * 1e6)
        eager, grouped = statistics.median(eager_us), statistics.median(grouped_us)
        yield {
            "name": f"group_step_us_k{k}",
            "value": round(grouped, 1),
            "unit": "us",
            "baseline": round(eager, 1),
            "ratio": round(grouped / eager, 2),
        }
