"""Seeing deeper: one λmax (curvature_ms) and an 8×8 sweep of 500 steps (sweep64_seconds).

`curvature_ms`: λmax of the training loss on 2→[8,8]→1 with 500 points (250 training), by
power iteration on Hessian-vector products, the copy of the weights included; target ≤ 25 ms.
`sweep64_seconds`: 8 learning rates × 8 momenta of the default model, 500 steps each, stepped
together by the batched engine; target ≤ 3 s. One thread, as a background worker.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch

from app.training.config import LabConfig
from app.training.curvature import compute_curvature, take_curvature_input
from app.training.sweep import default_plan, run_sweep
from app.training.trainer import TrainingSession

ROUNDS = 15


def run() -> Iterator[dict[str, Any]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield curvature_ms()
        yield sweep64_seconds()
    finally:
        torch.set_num_threads(threads)


def curvature_ms() -> dict[str, Any]:
    session = TrainingSession(LabConfig.model_validate({"model": {"hidden_layers": [8, 8]}}))
    session.train_steps(200)
    compute_curvature(take_curvature_input(session))  # warm-up
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        compute_curvature(take_curvature_input(session))
        times.append((time.perf_counter() - start) * 1e3)
    return {"name": "curvature_ms", "value": round(statistics.median(times), 2), "unit": "ms"}


def sweep64_seconds() -> dict[str, Any]:
    config = LabConfig()
    data = TrainingSession(config).data
    plan = default_plan(config, len(data.train_x), "momentum", size=8, steps=500)
    run_sweep(config, data, default_plan(config, len(data.train_x), "momentum", 2, 20))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run_sweep(config, data, plan)
        times.append(time.perf_counter() - start)
    return {"name": "sweep64_seconds", "value": round(statistics.median(times), 2), "unit": "s"}
