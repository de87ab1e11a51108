"""The digits lab in a real browser: a CNN learns the 8×8 digits, and what the page draws is
what the model holds (checked against the same run computed here, independently)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect

from app.training.images.config import ImageLabConfig
from app.training.images.run import ImageRun
from tests.conftest import LiveServer
from tests.e2e.conftest import screenshot


@pytest.fixture
def digits(page: Page, live_server: LiveServer) -> Iterator[Page]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto("/images")
    expect(page.get_by_test_id("filter")).to_have_count(8)
    yield page
    assert errors == []


def step_to(page: Page, steps: int) -> None:
    for n in range(1, steps + 1):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))


def drawn_filters(page: Page) -> list[list[float]]:
    return [
        json.loads(canvas.get_attribute("data-values") or "[]")
        for canvas in page.get_by_test_id("filter").all()
    ]


def confusion_on_page(page: Page) -> list[list[int]]:
    rows = page.locator("[data-testid=confusion-matrix] tbody tr")
    return [[int(t) for t in row.locator("td").all_text_contents()] for row in rows.all()]


def test_the_filters_and_the_confusion_matrix_drawn_are_the_models(digits: Page) -> None:
    page = digits
    step_to(page, 3)
    reference = ImageRun(ImageLabConfig())  # the page's run: same defaults, same seeds
    torch.set_num_threads(1)
    reference.train(3)
    weights = reference.filters().weights.reshape(8, 9)
    shown = torch.tensor(drawn_filters(page), dtype=torch.float32)
    assert torch.allclose(shown, weights, rtol=1e-5, atol=1e-7)

    # The colour says the sign: blue for the largest weight, orange for the most negative.
    flat = weights.flatten()
    for index, blue in ((int(flat.argmax()), True), (int(flat.argmin()), False)):
        r, _, b = page.evaluate(
            """([f, cell]) => {
                const canvas = document.querySelectorAll('[data-testid=filter]')[f];
                const scale = canvas.width / 3;
                const x = (cell % 3 + 0.5) * scale, y = (Math.floor(cell / 3) + 0.5) * scale;
                return Array.from(canvas.getContext('2d').getImageData(x, y, 1, 1).data);
            }""",
            [index // 9, index % 9],
        )[:3]
        assert (b > r) == blue

    page.get_by_test_id("filters-show-grads").check()
    grads = reference.filters().grads.reshape(8, 9)
    assert torch.allclose(torch.tensor(drawn_filters(page)), grads, rtol=1e-5, atol=1e-9)

    expected = reference.evaluate().confusion.tolist()
    assert confusion_on_page(page) == expected
    true, predicted = max(
        ((t, p) for t in range(10) for p in range(10) if t != p), key=lambda c: expected[c[0]][c[1]]
    )
    page.locator(f"td[data-true='{true}'][data-predicted='{predicted}']").click()
    images = page.get_by_test_id("confusion-images").locator("canvas")
    expect(images).to_have_count(min(60, expected[true][predicted]))
    screenshot(page, "digits-stepped")


def test_play_learns_the_digits_and_a_drawing_is_read_layer_by_layer(digits: Page) -> None:
    page = digits
    page.get_by_test_id("play").click()
    # A deadline for a broken run, not a speed target (that is `make bench`).
    page.wait_for_function(
        "() => parseFloat(document.querySelector('[data-testid=test-accuracy]').textContent) >= 95",
        timeout=90_000,
    )
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("status")).to_have_text("paused")

    pad = page.get_by_test_id("draw-pad").bounding_box()
    assert pad is not None
    x = pad["x"] + pad["width"] * 0.55
    page.mouse.move(x, pad["y"] + pad["height"] * 0.1)
    page.mouse.down()
    for i in range(12):
        page.mouse.move(x, pad["y"] + pad["height"] * (0.1 + 0.07 * i))
    page.mouse.up()
    expect(page.locator("[data-role=inspected-caption]")).to_have_text("your drawing")
    bars = page.get_by_test_id("prediction").locator(".bar")
    expect(bars).to_have_count(10)
    probabilities = [float(b.get_attribute("data-probability") or "nan") for b in bars.all()]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    predicted = int(page.get_by_test_id("prediction").get_attribute("data-predicted") or "-1")
    assert probabilities[predicted] == max(probabilities)
    conv1 = page.get_by_test_id("feature-maps").locator("[data-stage=conv1] canvas")
    expect(conv1).to_have_count(8)
    saliency = json.loads(
        page.get_by_test_id("saliency").locator("canvas").get_attribute("data-values") or "[]"
    )
    assert len(saliency) == 64 and any(v != 0 for v in saliency)
    other = (predicted + 3) % 10
    page.get_by_test_id("prediction").locator(f"[data-digit='{other}']").click()
    expect(page.locator("[data-role=saliency-caption]")).to_contain_text(f"for class {other}")
    screenshot(page, "digits-drawn")


def test_a_conv_block_added_on_the_page_rebuilds_the_model(digits: Page) -> None:
    page = digits
    page.get_by_test_id("add-conv-layer").click()
    blocks = page.get_by_test_id("model-blocks")
    expect(blocks.locator("[data-stage=conv3]")).to_have_text("conv3Conv2d → 16×2×2 · 2320 params")
    page.get_by_test_id("dense-layers").fill("32")
    page.get_by_test_id("dense-layers").dispatch_event("change")
    expect(blocks.locator("[data-stage=dense1]")).to_be_visible()
    page.get_by_test_id("conv-block").nth(2).get_by_role("button").click()
    expect(blocks.locator("[data-stage=conv3]")).to_have_count(0)
    page.get_by_test_id("learning-rate").fill("0.003")
    page.get_by_test_id("learning-rate").dispatch_event("change")
    step_to(page, 1)
    expect(page.get_by_test_id("error")).to_have_text("")


def test_the_plane_lab_s_dataset_picker_opens_the_digits_lab(lab: Page) -> None:
    lab.get_by_test_id("dataset").select_option("digits")
    lab.wait_for_url("**/images")
    expect(lab.get_by_test_id("filter")).to_have_count(8)
    expect(lab.get_by_test_id("dataset")).to_have_value("digits")


def test_the_plane_lab_s_lesson_menu_opens_why_convolutions_on_the_digits_page(
    lab: Page,
) -> None:
    lab.get_by_test_id("lessons").select_option("why-convolutions")
    lab.wait_for_url("**/images#lesson=why-convolutions")
    lesson = lab.get_by_test_id("lesson-why-convolutions")
    expect(lesson).to_have_attribute("data-open", "1")
    expect(lesson).to_be_in_viewport()
    expect(lab.get_by_test_id("lesson-mlp")).to_be_focused()
    expect(lab.get_by_test_id("filter")).to_have_count(8)


def test_phase_by_phase_the_code_line_and_the_autograd_graph_follow(digits: Page) -> None:
    page = digits
    for phase in ("zero_grad", "forward", "loss"):
        page.get_by_test_id("step-phase").click()
        expect(page.locator(f".code-listing .line.current[data-phase={phase}]")).to_have_count(1)
    graph = page.get_by_test_id("autograd")
    expect(graph).to_contain_text("ConvolutionBackward0")
    expect(graph).to_contain_text("MaxPool2DWithIndicesBackward0")
    page.get_by_test_id("step-phase").click()
    page.get_by_test_id("step-phase").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    expect(page.locator(".code-listing .line.current[data-phase=step]")).to_have_count(1)


def test_a_click_on_a_filter_weight_checks_it_by_hand(digits: Page) -> None:
    page = digits
    step_to(page, 2)
    page.get_by_test_id("sample-index").fill("11")
    page.get_by_test_id("filter").nth(4).click(position={"x": 2, "y": 2})  # its top-left weight
    check = page.get_by_test_id("sample-check")
    expect(check).to_contain_text("training image 11")
    expect(check).to_contain_text("conv1.weight[4, 0, 0, 0]")
    expect(check).to_contain_text("they agree")
    autograd = float(check.get_attribute("data-autograd") or "nan")
    numeric = float(check.get_attribute("data-numeric") or "nan")
    assert autograd == pytest.approx(numeric, rel=1e-3, abs=1e-6)


def test_batch_norm_s_running_statistics_are_shown_as_they_move(digits: Page) -> None:
    page = digits
    stats = page.get_by_test_id("batchnorm-stats")
    expect(stats).to_be_hidden()
    page.get_by_test_id("batchnorm").check()
    expect(stats.locator("[data-layer=bn1]")).to_contain_text("after 0 batches")
    step_to(page, 2)
    row = stats.locator("[data-layer=bn1]")
    expect(row).to_contain_text("after 2 batches")
    reference = ImageRun(ImageLabConfig.model_validate({"model": {"batchnorm": True}}))
    reference.train(2)
    norm = reference.model.get_submodule("bn1")
    assert isinstance(norm, torch.nn.BatchNorm2d)
    shown = torch.tensor(json.loads(row.get_attribute("data-running-mean") or "[]"))
    assert torch.allclose(shown, norm.running_mean, rtol=1e-5, atol=1e-9)


def test_gradient_health_shows_each_weight_layer_after_a_step(digits: Page) -> None:
    page = digits
    step_to(page, 1)
    rows = page.get_by_test_id("gradient-health").locator("tbody tr")
    expect(rows).to_have_count(3)
    assert [r.get_attribute("data-layer") for r in rows.all()] == ["conv1", "conv2", "output"]
    reference = ImageRun(ImageLabConfig())
    reference.step()
    for row, (_, weight) in zip(rows.all(), reference.weight_layers(), strict=True):
        assert weight.grad is not None
        shown = float(row.get_attribute("data-grad-norm") or "nan")
        assert shown == pytest.approx(float(weight.grad.norm()), rel=1e-5)


def test_the_settings_live_in_the_url_and_survive_a_reload(digits: Page) -> None:
    page = digits
    page.get_by_test_id("dense-layers").fill("24")
    page.get_by_test_id("dense-layers").dispatch_event("change")
    expect(page.get_by_test_id("model-blocks").locator("[data-stage=dense1]")).to_be_visible()
    page.get_by_test_id("learning-rate").fill("0.004")
    page.get_by_test_id("learning-rate").dispatch_event("change")
    assert "config=" in page.url
    page.reload()
    expect(page.get_by_test_id("model-blocks").locator("[data-stage=dense1]")).to_contain_text(
        "DenseBlock → 24"
    )
    expect(page.get_by_test_id("learning-rate")).to_have_value("0.004")
    # The link in another tab (a run of its own, not this tab's) builds the same model.
    other = page.context.new_page()
    other.goto(page.url)
    expect(other.get_by_test_id("model-blocks").locator("[data-stage=dense1]")).to_contain_text(
        "DenseBlock → 24"
    )
    expect(other.get_by_test_id("learning-rate")).to_have_value("0.004")
    expect(other.get_by_test_id("step-count")).to_have_text("0")
    other.close()


def test_save_model_downloads_a_file_that_load_model_brings_back(
    digits: Page, tmp_path: Path
) -> None:
    page = digits
    step_to(page, 2)
    weights = drawn_filters(page)
    with page.expect_download() as download:
        page.get_by_test_id("save-model").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "digits-step2.pt"
    page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    page.get_by_test_id("load-model").set_input_files(str(path))
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    assert drawn_filters(page) == weights


def test_the_why_convolutions_lesson_compares_an_mlp_and_a_smaller_cnn(digits: Page) -> None:
    page = digits
    lesson = page.get_by_test_id("lesson-why-convolutions")
    step_to(page, 2)  # the CNN is already training: its lesson run still starts at step 0
    for kind in ("cnn", "mlp"):
        page.get_by_test_id(f"lesson-{kind}").click()
        expect(page.get_by_test_id("step-count")).to_have_text("0")
        page.get_by_test_id("play").click()
        row = lesson.locator(f"tr[data-model={kind}]")
        expect(row).to_have_attribute("data-done", "1", timeout=60_000)
        page.get_by_test_id("pause").click()
        expect(page.get_by_test_id("status")).to_have_text("paused")
    mlp, cnn = (lesson.locator(f"tr[data-model={k}]") for k in ("mlp", "cnn"))
    assert int(cnn.get_attribute("data-parameters") or 0) == 1898
    assert int(mlp.get_attribute("data-parameters") or 0) == 64 * 32 + 32 + 32 * 10 + 10
    for row in (mlp, cnn):
        assert float(row.get_attribute("data-accuracy") or 0) > 0.8


def test_the_script_and_notebook_downloaded_replay_the_settings_shown(
    digits: Page, tmp_path: Path
) -> None:
    page = digits
    page.get_by_test_id("optimizer").select_option("sgd")
    page.get_by_test_id("learning-rate").fill("0.2")
    page.get_by_test_id("learning-rate").dispatch_event("change")
    page.get_by_test_id("batch-size").fill("20")
    page.get_by_test_id("batch-size").dispatch_event("change")
    step_to(page, 1)  # the run took the settings: the files must carry the same ones
    config = ImageLabConfig.model_validate(
        {"training": {"optimizer": "sgd", "learning_rate": 0.2, "batch_size": 20}}
    )
    torch.set_num_threads(1)
    expected = ImageRun(config).train(10)

    def downloaded(test_id: str) -> Path:
        with page.expect_download() as download:
            page.get_by_test_id(test_id).click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        return path

    def printed_losses(source: Path, *args: str) -> list[float]:
        result = subprocess.run(
            [sys.executable, str(source), *args],
            cwd=tmp_path,  # away from the project: torch, numpy and scikit-learn only
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return [float(v) for v in re.findall(r"step \d+: loss (\S+)", result.stdout)]

    script = downloaded("export-code")
    assert script.name == "backprop-lab-digits-cnn-sgd.py"
    assert printed_losses(script, "10") == pytest.approx(expected, abs=1e-6)

    notebook = json.loads(downloaded("export-notebook").read_text())
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    cells = tmp_path / "notebook_cells.py"
    cells.write_text(code)
    assert printed_losses(cells)[:10] == pytest.approx(expected, abs=1e-6)


def test_a_model_file_over_the_limit_is_refused_on_the_page(digits: Page, tmp_path: Path) -> None:
    page = digits
    big = tmp_path / "huge.pt"
    big.write_bytes(bytes(300_000))
    page.get_by_test_id("load-model").set_input_files(str(big))
    expect(page.get_by_test_id("error")).to_have_text(
        "huge.pt is 300 kB: a model file is at most 200 kB"
    )
    step_to(page, 1)  # still connected, the run goes on
    expect(page.get_by_test_id("connection")).to_have_text("")


def test_a_reload_finds_the_run_where_it_was(digits: Page) -> None:
    page = digits
    step_to(page, 3)
    weights = drawn_filters(page)
    page.reload()
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    assert drawn_filters(page) == weights
    page.get_by_test_id("step").click()
    expect(page.get_by_test_id("step-count")).to_have_text("4")


def test_the_slider_rewinds_the_digits_and_training_on_with_a_new_rate_is_a_branch(
    digits: Page,
) -> None:
    page = digits
    shown: dict[int, list[list[float]]] = {}
    for n in range(1, 7):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
        shown[n] = drawn_filters(page)
    timeline = page.get_by_test_id("timeline")
    expect(page.get_by_test_id("timeline-label")).to_contain_text("step 6")
    timeline.fill("2")
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    expect(page.get_by_test_id("timeline-label")).to_contain_text("press Play to branch")
    assert drawn_filters(page) == shown[2]
    chart = page.get_by_test_id("loss-chart")
    # The curve still reaches step 6; the marker says the run stands at step 2.
    expect(chart).to_have_attribute("data-step", "2")
    expect(chart).to_have_attribute("data-last-step", "6")
    timeline.fill("6")
    expect(page.get_by_test_id("step-count")).to_have_text("6")
    assert drawn_filters(page) == shown[6]  # back at the present, exactly as it was

    timeline.fill("3")
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    page.get_by_test_id("learning-rate").fill("0.05")
    page.get_by_test_id("learning-rate").dispatch_event("change")
    page.get_by_test_id("step").click()
    expect(page.get_by_test_id("step-count")).to_have_text("4")
    runs = page.locator("[data-testid=runs] li")
    expect(runs).to_have_count(2)
    expect(runs.nth(1)).to_contain_text("from step 3: learning_rate 0.01 → 0.05")
    expect(runs.nth(1)).to_have_class("current")
    expect(chart).to_have_attribute("data-last-step", "4")  # the branch's own curve
    assert drawn_filters(page) != shown[4]

    page.get_by_test_id("play").click()
    expect(page.get_by_test_id("timeline-label")).to_contain_text("from step 3")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=step-count]').textContent) > 30"
    )
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("status")).to_have_text("paused")
    expect(runs).to_have_count(2)
    screenshot(page, "digits-history")


def test_an_earlier_run_is_overlaid_on_the_loss_curve_and_each_run_downloads(
    digits: Page,
) -> None:
    page = digits
    for n in range(1, 5):
        page.get_by_test_id("step").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    page.get_by_test_id("timeline").fill("2")
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    page.get_by_test_id("step").click()  # a branch from step 2
    runs = page.locator("[data-testid=runs] li")
    expect(runs).to_have_count(2)
    parent = runs.nth(0).get_attribute("data-run")
    chart = page.get_by_test_id("loss-chart")
    expect(chart).to_have_attribute("data-overlays", "")
    page.get_by_test_id("show-other-runs").check()
    expect(chart).to_have_attribute("data-overlays", str(parent))
    expect(chart).to_have_attribute("data-last-step", "4")  # the parent reached step 4

    with page.expect_download() as download:
        page.get_by_test_id(f"export-run-{parent}-csv").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "step,train_loss"
    assert [int(line.split(",")[0]) for line in lines[1:]] == [1, 2, 3, 4]
    page.get_by_test_id("show-other-runs").uncheck()
    expect(chart).to_have_attribute("data-overlays", "")
