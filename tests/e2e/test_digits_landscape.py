"""The digits lab's loss landscape in a real browser: the button asks for it, and what the page
draws is the server's frame (read off the socket) and the model's own loss (computed here)."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from playwright.sync_api import Page, WebSocket, expect
from torch import nn

from app.training.images.config import ImageLabConfig
from app.training.images.landscape import landscape_subset
from app.training.images.run import ImageRun
from tests.conftest import LiveServer
from tests.e2e.conftest import screenshot


class Landscapes:
    """Every image_landscape frame the page's socket received, in order."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def watch(self, socket: WebSocket) -> None:
        socket.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        message = json.loads(payload)
        if message.get("type") == "image_landscape":
            self.frames.append(message)


@pytest.fixture
def digits(page: Page, live_server: LiveServer) -> Iterator[tuple[Page, Landscapes]]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    landscapes = Landscapes()
    page.on("websocket", landscapes.watch)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto("/images")
    expect(page.get_by_test_id("filter")).to_have_count(8)
    yield page, landscapes
    assert errors == []


def drawn(page: Page) -> dict[str, str]:
    root = page.locator("[data-testid=image-landscape] [data-role=landscape]")
    expect(root).to_have_attribute("data-state", "drawn")
    return root.evaluate("(el) => ({...el.dataset})")  # type: ignore[no-any-return]


def painted_pixels(page: Page) -> int:
    return page.get_by_test_id("surface-map").evaluate(  # type: ignore[no-any-return]
        """(canvas) => {
            const { width, height } = canvas;
            const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            let n = 0;
            for (let k = 3; k < data.length; k += 4) if (data[k] > 0) n++;
            return n;
        }"""
    )


def test_compute_draws_the_server_s_landscape_of_the_model_now(
    digits: tuple[Page, Landscapes],
) -> None:
    page, landscapes = digits
    for n in (1, 2):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    assert painted_pixels(page) == 0
    page.get_by_test_id("image-landscape-compute").click()
    shown = drawn(page)
    assert len(landscapes.frames) == 1
    frame = landscapes.frames[0]

    assert (int(shown["step"]), int(shown["resolution"])) == (2, 21) == (frame["step"], 21)
    assert float(shown["span"]) == frame["span"] == 1.0
    assert float(shown["centerLoss"]) == frame["center_loss"]
    values = json.loads(page.get_by_test_id("surface-map").get_attribute("data-values") or "[]")
    assert values == [v for row in frame["loss"] for v in row]
    assert int(shown["drawnCells"]) == 21 * 21 and int(shown["pathPoints"]) == 3
    assert frame["path"]["steps"] == [0, 1, 2]
    assert painted_pixels(page) == 300 * 300

    # The centre is the page's model's own loss: the same run again, here, in eval mode.
    torch.set_num_threads(1)
    reference = ImageRun(ImageLabConfig())
    reference.train(2)
    subset = landscape_subset(len(reference.data.train_x))
    with torch.no_grad():
        logits = copy.deepcopy(reference.model).eval()(reference.data.train_x[subset])
        own = float(nn.CrossEntropyLoss()(logits, reference.data.train_y[subset]))
    assert math.isclose(float(shown["centerLoss"]), own, rel_tol=1e-5)
    info = page.get_by_test_id("image-landscape-info")
    expect(info).to_contain_text("Around step 2")
    expect(info).to_contain_text("off the plane")
    screenshot(page, "digits-landscape")


def test_another_resolution_and_span_redraw_and_a_reset_clears_it(
    digits: tuple[Page, Landscapes],
) -> None:
    page, landscapes = digits
    page.get_by_test_id("image-landscape-resolution").select_option("11")
    page.get_by_test_id("image-landscape-span").select_option("0.5")
    page.get_by_test_id("image-landscape-seed").fill("5")
    page.get_by_test_id("image-landscape-compute").click()
    shown = drawn(page)
    frame = landscapes.frames[-1]
    assert (frame["resolution"], frame["span"], frame["seed"]) == (11, 0.5, 5)
    assert (shown["resolution"], shown["span"], shown["seed"]) == ("11", "0.5", "5")
    assert int(shown["drawnCells"]) == 11 * 11

    page.get_by_test_id("reset").click()
    root = page.locator("[data-testid=image-landscape] [data-role=landscape]")
    expect(root).to_have_attribute("data-state", "empty")
    assert painted_pixels(page) == 0


def test_every_choice_on_the_page_is_within_the_server_s_limits(
    digits: tuple[Page, Landscapes],
) -> None:
    page, _ = digits
    schema = page.request.get("/api/schema").json()
    bounds = schema["images_client"]["$defs"]["ImageLandscapeRequest"]["properties"]
    resolutions = page.get_by_test_id("image-landscape-resolution").locator("option").all()
    spans = page.get_by_test_id("image-landscape-span").locator("option").all()
    assert resolutions and spans
    for option in resolutions:
        value = int(option.get_attribute("value") or "")
        assert bounds["resolution"]["minimum"] <= value <= bounds["resolution"]["maximum"]
    for option in spans:
        value = float(option.get_attribute("value") or "")
        assert bounds["span"]["exclusiveMinimum"] < value <= bounds["span"]["maximum"]
    seed = page.get_by_test_id("image-landscape-seed")
    assert int(seed.get_attribute("max") or "") == bounds["seed"]["maximum"]
