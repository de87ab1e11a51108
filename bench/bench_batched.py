"""The batched engine: one grouped step of K default runs against one eager step of one run.

`ratio` is the grouped step's time over the eager step's: how many eager steps of one run a
step of the whole group costs (below 1: K runs step for less than one). One thread, as a
training worker runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch

from app.training.stacked import RunGroup
from app.training.trainer import TrainingSession


def median_us(fn: Callable[[], object], repeats: int, inner: int) -> float:
    for _ in range(inner):
        fn()  # warm-up: first calls pay allocation and dispatch caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times) * 1e6


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
    eager = median_us(alone.train_step, repeats=15, inner=100)
    yield {"name": "eager_step_us", "value": round(eager, 1), "unit": "us"}
    for k in (20, 100):
        group = RunGroup([TrainingSession() for _ in range(k)])
        grouped = median_us(partial(group.train_steps, 1), repeats=15, inner=50)
        yield {
            "name": f"group_step_us_k{k}",
            "value": round(grouped, 1),
            "unit": "us",
            "baseline": round(eager, 1),
            "ratio": round(grouped / eager, 2),
        }
