"""Your own data and model files in the browser: save/load a model, upload a CSV, draw, hover."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer

from .conftest import loaded_lab, screenshot

# A refused upload is an HTTP 400/413 that the page handles; Chromium still logs the response.
REFUSED_UPLOAD = re.compile(r"Failed to load resource: .* status of 4(00|13)")


@pytest.fixture
def lab(page: Page, live_server: LiveServer) -> Iterator[Page]:
    """The app's page, as conftest's `lab`, where a refused upload is not a page error."""
    yield from loaded_lab(page, REFUSED_UPLOAD)


def store(page: Page, expression: str) -> object:
    return page.evaluate(f"() => {{ const s = window.backpropLab.store; return {expression}; }}")


def step_to(page: Page, steps: int) -> None:
    start = int(page.get_by_test_id("step-count").inner_text())
    for n in range(start + 1, start + steps + 1):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))


def test_a_saved_model_loads_back_with_the_weights_and_loss_of_its_step(
    lab: Page, tmp_path: Path
) -> None:
    step_to(lab, 5)
    saved_weights = store(lab, "s.frame.layers.map((l) => l.weights)")
    saved_loss = lab.get_by_test_id("train-loss").inner_text()
    with lab.expect_download() as download:
        lab.get_by_test_id("save-model").click()
    assert download.value.suggested_filename == "backprop-lab-step-5.pt"
    path = tmp_path / "model.pt"
    download.value.save_as(path)

    step_to(lab, 5)
    assert store(lab, "s.frame.layers.map((l) => l.weights)") != saved_weights
    lab.get_by_test_id("load-model").set_input_files(path)
    expect(lab.get_by_test_id("own-data-result")).to_contain_text("Loaded model.pt")
    expect(lab.get_by_test_id("step-count")).to_have_text("0")
    assert store(lab, "s.frame.layers.map((l) => l.weights)") == saved_weights
    expect(lab.get_by_test_id("train-loss")).to_have_text(saved_loss)


def test_points_drawn_by_hand_come_back_with_a_saved_model(lab: Page, tmp_path: Path) -> None:
    canvas = lab.locator("[data-testid=decision-boundary] canvas")
    train_before = store(lab, "s.data.train.length")
    lab.get_by_test_id("draw-class").select_option("1")
    canvas.click(position={"x": 225, "y": 150})  # (3, 0), in the circle's empty ring
    lab.wait_for_function(
        f"() => window.backpropLab.store.data.train.length === {train_before + 1}"
    )
    drawn = store(lab, "s.data.train.at(-1)")
    with lab.expect_download() as download:
        lab.get_by_test_id("save-model").click()
    path = tmp_path / "drawn.pt"
    download.value.save_as(path)

    lab.get_by_test_id("regenerate").click()  # the settings' own points: the drawn one is gone
    lab.wait_for_function(f"() => window.backpropLab.store.data.train.length === {train_before}")
    lab.get_by_test_id("load-model").set_input_files(path)
    expect(lab.get_by_test_id("own-data-result")).to_contain_text("Loaded drawn.pt")
    lab.wait_for_function(
        f"() => window.backpropLab.store.data.train.length === {train_before + 1}"
    )
    assert store(lab, "s.data.train.at(-1)") == drawn


def test_a_corrupt_model_file_shows_why_and_changes_nothing(lab: Page) -> None:
    step_to(lab, 2)
    weights = store(lab, "s.frame.layers.map((l) => l.weights)")
    lab.get_by_test_id("load-model").set_input_files(
        {"name": "broken.pt", "mimeType": "application/octet-stream", "buffer": b"PK\x03\x04junk"}
    )
    expect(lab.get_by_test_id("status")).to_contain_text("broken.pt: not a PyTorch weights file")
    expect(lab.get_by_test_id("step-count")).to_have_text("2")
    assert store(lab, "s.frame.layers.map((l) => l.weights)") == weights


def test_an_uploaded_csv_replaces_the_points_and_a_bad_one_names_its_line(lab: Page) -> None:
    points_before = store(lab, "s.data.train.length + s.data.test.length")
    upload = lab.get_by_test_id("upload-csv")
    upload.set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": b"x1,x2,label\n1,1,0\n2,oops,1\n"}
    )
    expect(lab.get_by_test_id("status")).to_contain_text(
        "bad.csv: line 3: x2 'oops' is not a number"
    )
    assert store(lab, "s.data.train.length + s.data.test.length") == points_before

    step_to(lab, 2)
    rows = "\n".join(f"{(i % 10) - 4.5},{(i // 10) - 1.5},{int(i % 10 >= 5)}" for i in range(40))
    upload.set_input_files({"name": "mine.csv", "mimeType": "text/csv", "buffer": rows.encode()})
    expect(lab.get_by_test_id("own-data-result")).to_contain_text("20 training and 20 test")
    lab.wait_for_function("() => window.backpropLab.store.data.train.length === 20")
    expect(lab.get_by_test_id("step-count")).to_have_text("0")
    lab.get_by_test_id("play").click()
    # Left half orange, right half blue: a straight line a network learns at once.
    lab.wait_for_function("() => window.backpropLab.store.frame.train_accuracy === 1")
    lab.get_by_test_id("pause").click()
    screenshot(lab, "own-data-csv")


def test_clicks_draw_and_remove_points_and_hover_shows_every_neuron(lab: Page) -> None:
    canvas = lab.locator("[data-testid=decision-boundary] canvas")
    step_to(lab, 3)
    train_before = store(lab, "s.data.train.length")
    lab.get_by_test_id("draw-class").select_option("1")
    # (3, 0) lies in the empty ring of the circle data set: 225 px across, 150 down.
    canvas.click(position={"x": 225, "y": 150})
    lab.wait_for_function(
        f"() => window.backpropLab.store.data.train.length === {train_before + 1}"
    )
    drawn = store(lab, "s.data.train.at(-1)")
    assert abs(drawn["x1"] - 3) < 0.1 and abs(drawn["x2"]) < 0.1 and drawn["label"] == 1  # type: ignore[index]
    expect(lab.get_by_test_id("step-count")).to_have_text("3")

    lab.get_by_test_id("play").click()
    lab.wait_for_function("() => window.backpropLab.store.frame.step > 50")
    canvas.hover(position={"x": 75, "y": 75})
    inspection = lab.get_by_test_id("inspection")
    # (-3, 3), give or take the canvas border's pixel.
    expect(inspection).to_contain_text(re.compile(r"At x₁ = -(2\.9|3\.0)\d, x₂ = (2\.9|3\.0)\d"))
    expect(inspection).to_contain_text("P(blue) =")
    expect(inspection.locator("tr")).to_have_count(4)  # inputs, two hidden layers, output
    expect(inspection.locator("tr").nth(1).locator("td")).to_have_count(4)
    lab.get_by_test_id("pause").click()
    screenshot(lab, "own-data-drawn")

    canvas.click(position={"x": 225, "y": 150})
    lab.wait_for_function(f"() => window.backpropLab.store.data.train.length === {train_before}")
    lab.mouse.move(5, 5)
    expect(inspection).to_contain_text("Hover the plane")
