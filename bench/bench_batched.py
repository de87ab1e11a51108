"""The batched engine: a grouped step of K default runs against one eager step of one run.

`ratio` is the grouped step's time over the eager step's: what a step of the whole group costs
in eager steps of one run (below 1: K runs step for less than one). `bare_stacked_step_us_k*`
times the stacked arithmetic alone (forward, one backward, the SGD update, on a fixed batch)
on the same machine at the same moment: the floor the engine's bookkeeping adds to.
`group_step_us_k*` is the default, reproducible group (batches padded to whole SIMD vectors so
a run's numbers do not depend on its group); `*_fast` the unpadded one; `*_mixed` a group of
the load generator's six optimizer settings (bench/load.py), each updating its own block.
Grouped steps are timed in bursts of BURST_STEPS, as the scheduler runs them, so each step
carries its share of the burst's bookkeeping (divergence check, counters). All are timed in
alternation, so a machine whose speed drifts (shared cores) drifts them alike. One thread, as a
training worker.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from app.training.config import LabConfig, TrainingConfig
from app.training.stacked import RunGroup
from app.training.trainer import TrainingSession
from bench.load import OPTIMIZERS

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
        fast = RunGroup([TrainingSession() for _ in range(k)], reproducible=False)
        mixed = RunGroup([mixed_run(i) for i in range(k)])
        for g in (group, fast, mixed):
            g.train_steps(BURST_STEPS)  # warm-up: allocation and dispatch caches
        alone.train_step()
        bare = bare_step(fast)
        times: dict[str, list[float]] = {
            f"group_step_us_k{k}": [],
            f"group_step_us_k{k}_fast": [],
            f"group_step_us_k{k}_mixed": [],
            f"bare_stacked_step_us_k{k}": [],
        }
        eager_us = []
        for _ in range(ROUNDS):
            eager_us.append(seconds(alone.train_step, 50) / 50 * 1e6)
            for name, g in (
                (f"group_step_us_k{k}", group),
                (f"group_step_us_k{k}_fast", fast),
                (f"group_step_us_k{k}_mixed", mixed),
            ):
                burst = seconds(partial(g.train_steps, BURST_STEPS), 5)
                times[name].append(burst / (5 * BURST_STEPS) * 1e6)
            times[f"bare_stacked_step_us_k{k}"].append(seconds(bare, 50) / 50 * 1e6)
        eager = statistics.median(eager_us)
        for name, measured in times.items():
            value = statistics.median(measured)
            yield {
                "name": name,
                "value": round(value, 1),
                "unit": "us",
                "baseline": round(eager, 1),
                "ratio": round(value / eager, 2),
            }


def mixed_run(i: int) -> TrainingSession:
    training = TrainingConfig(**OPTIMIZERS[i % len(OPTIMIZERS)])
    return TrainingSession(LabConfig(training=training))


def bare_step(group: RunGroup) -> Callable[[], None]:
    """The stacked step with nothing per run: fixed batch, plain SGD, no bookkeeping."""
    params = [t.detach().clone().requires_grad_(True) for t in group.network.tensors]
    batch = group.epochs.next()
    x, y = batch.x.clone(), batch.y.clone()
    lr = torch.full((len(group.members),), 0.03)

    def step() -> None:
        for p in params:
            p.grad = None
        h = x
        for i in range(0, len(params), 2):
            h = torch.baddbmm(params[i + 1].unsqueeze(1), h, params[i].transpose(1, 2))
            if i + 2 < len(params):
                h = torch.tanh(h)
        loss = F.binary_cross_entropy_with_logits(h, y, reduction="none").flatten(1).mean(1)
        loss.sum().backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            for p in params:
                assert p.grad is not None
                p.sub_(lr.view(-1, *([1] * (p.dim() - 1))) * p.grad)

    return step
