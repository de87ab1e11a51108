"""What a person sees: epochs/s and frames/s drawn by a real Chromium, and the page's per-frame
cost (JSON parse + every view), at Playground's default model and at 2→[8,8,8]→1."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import torch
from playwright.sync_api import sync_playwright

from bench.bench_streaming import bare_steps_per_second
from tests.support.live_server import LiveServer

SECONDS = 6.0
# Measured here (ANCHORS.md / the speed issue): Playground draws one epoch per animation frame.
PLAYGROUND_EPOCHS_PER_S = {"default": 60.0, "888": 31.0}
LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def measure(page: Any, url: str) -> dict[str, float]:
    page.goto(url)
    page.wait_for_function("() => window.backpropLab && window.backpropLab.store.frame")
    page.get_by_test_id("play").click()
    page.wait_for_timeout(1500)  # past the first frames and JIT warm-up
    start = page.evaluate(
        "() => ({t: performance.now(), e: window.backpropLab.store.frame.epoch,"
        " n: window.backpropLab.store.timing.frames.length})"
    )
    page.wait_for_timeout(SECONDS * 1000)
    end = page.evaluate(
        """(start) => {
        const s = window.backpropLab.store;
        const frames = s.timing.frames.filter((f) => f.at >= start.t);
        return {t: performance.now(), e: s.frame.epoch, ms: frames.map((f) => f.ms)};
    }""",
        start,
    )
    page.get_by_test_id("pause").click()
    elapsed = (end["t"] - start["t"]) / 1000
    ms = sorted(end["ms"])
    return {
        "epochs_per_s": (end["e"] - start["e"]) / elapsed,
        "fps": len(ms) / elapsed,
        "p95_ms": ms[int(0.95 * (len(ms) - 1))] if ms else float("nan"),
        "median_ms": statistics.median(ms) if ms else float("nan"),
    }


def run() -> Iterator[dict[str, Any]]:
    torch.set_num_threads(1)  # the bare loop, as the server's worker runs
    server = LiveServer()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            default = measure(page, server.url + "/")
            # This machine's own ceiling, right after: the hand-written loop with no frames at
            # all (batches of 10 from 250 points: 25 steps an epoch). Its speed drifts.
            bare_epochs = bare_steps_per_second(3.0) / 25
            yield {
                "name": "visible_epochs_per_s_default",
                "value": round(default["epochs_per_s"], 1),
                "unit": "epochs/s",
                "baseline": PLAYGROUND_EPOCHS_PER_S["default"],
                "ratio": round(default["epochs_per_s"] / PLAYGROUND_EPOCHS_PER_S["default"], 2),
                "target": 120,
                "bare_loop_epochs_per_s": round(bare_epochs, 1),
                "share_of_bare_loop": round(default["epochs_per_s"] / bare_epochs, 2),
            }
            yield {
                "name": "browser_fps",
                "value": round(default["fps"], 1),
                "unit": "frames/s",
                "target": 30,
            }
            wide = measure(page, server.url + "/#layers=8%2C8%2C8")
            yield {
                "name": "visible_epochs_per_s_888",
                "value": round(wide["epochs_per_s"], 1),
                "unit": "epochs/s",
                "baseline": PLAYGROUND_EPOCHS_PER_S["888"],
                "ratio": round(wide["epochs_per_s"] / PLAYGROUND_EPOCHS_PER_S["888"], 2),
                "target": 62,
            }
            largest = measure(page, server.url + "/#layers=16%2C16%2C16%2C16%2C16%2C16")
            yield {
                "name": "browser_frame_ms_p95",
                "value": round(largest["p95_ms"], 2),
                "unit": "ms",
                "median_ms": round(largest["median_ms"], 2),
                "fps": round(largest["fps"], 1),
                "model": "2-[16x6]-1",
                "target": 8,
            }
            browser.close()
    finally:
        server.stop()
