"""The loss surface: the batched grid against the naive loop and loss-landscapes, one thread.

Every `ratio` is baseline ms / batched ms on the same model, data and grid size: how many times
faster the batched surface is. `target` is the issue's ceiling for that figure, in ms.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch
from torch import nn

from app.training.datasets import make_dataset
from app.training.directions import flat_params, random_directions
from app.training.model import MLP, build_model
from app.training.surface import loss_surface, loss_surface_naive


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first calls pay allocation and dispatch caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def run() -> Iterator[dict[str, Any]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield from _run()
    finally:
        torch.set_num_threads(threads)


def _run() -> Iterator[dict[str, Any]]:
    data = make_dataset("circle", 1000, 0.0, 0.5, seed=0)  # 500 training points
    x, y = data.train_x, data.train_y
    shallow = build_model(2, [8, 8], "tanh", "default", seed=0)
    deep = build_model(2, [16, 16, 16, 16], "relu", "default", seed=0)
    cases: list[tuple[str, MLP, int, float, int, int]] = [
        # name, model, resolution, target ms, batched repeats, naive repeats
        ("surface_41_ms", shallow, 41, 30.0, 21, 3),
        ("surface_81_ms", shallow, 81, 80.0, 11, 1),
        ("surface_81_deep_ms", deep, 81, 200.0, 7, 1),
    ]
    fast_41 = naive_41 = 0.0
    for name, model, resolution, target, repeats, naive_repeats in cases:
        center = flat_params(model)
        d1, d2 = random_directions(model, seed=0)
        batched = partial(loss_surface, model, "bce", x, y, center, d1, d2, 1.0, resolution)
        naive_loop = partial(
            loss_surface_naive, model, "bce", x, y, center, d1, d2, 1.0, resolution
        )
        fast = median_ms(batched, repeats)
        naive = median_ms(naive_loop, naive_repeats)
        # A fast wrong surface is worthless: check it against the naive one on the same grid.
        error = (batched().loss - naive_loop().loss).abs().max().item()
        if not error < 1e-4:
            raise AssertionError(f"{name}: batched surface differs from naive by {error}")
        if resolution == 41:
            fast_41, naive_41 = fast, naive
        yield {
            "name": name,
            "value": round(fast, 2),
            "unit": "ms",
            "baseline": round(naive, 1),
            "ratio": round(naive / fast, 1),
            "target": target,
        }
    yield {"name": "surface_vs_naive_ratio", "value": round(naive_41 / fast_41, 1), "unit": "x"}

    try:
        import loss_landscapes
        import loss_landscapes.metrics
    except ImportError:
        print(
            "bench_surface: loss-landscapes is not installed; comparison skipped", file=sys.stderr
        )
        return
    metric = loss_landscapes.metrics.Loss(nn.BCEWithLogitsLoss(), x, y)
    # deepcopy_model: random_plane otherwise shifts the model's own weights in place.
    landscapes = median_ms(
        lambda: loss_landscapes.random_plane(
            shallow, metric, distance=1, steps=41, normalization="filter", deepcopy_model=True
        ),
        5,
    )
    yield {"name": "loss_landscapes_41_ms", "value": round(landscapes, 1), "unit": "ms"}
    yield {
        "name": "surface_vs_loss_landscapes_ratio",
        "value": round(landscapes / fast_41, 1),
        "unit": "x",
    }
