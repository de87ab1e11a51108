"""Take it home: the exported script replays the run the page showed, the notebook holds the same
code, and the picture, CSV and JSON downloads are what they say."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Download, Page, expect

from tests.conftest import ARTIFACTS

from .page_helpers import open_lab, store_value

STEPS = 50
# Not the defaults: features, ReLU, Adam, an odd batch size, its own seeds.
LINK = (
    "dataset=xor&points=200&noise=0.1&dataSeed=2&layers=5%2C3&activation=relu&seed=3"
    "&features=x1%2Cx2%2Cx1x2&optimizer=adam&learningRate=0.01&batchSize=7"
)


def download(page: Page, test_id: str, directory: Path) -> Path:
    page.get_by_text("Export", exact=True).click()
    with page.expect_download() as info:
        page.get_by_test_id(test_id).click()
    file: Download = info.value
    target = directory / file.suggested_filename
    file.save_as(target)
    return target


def test_the_exported_script_reproduces_the_apps_first_50_losses(
    page: Page, tmp_path: Path
) -> None:
    errors = open_lab(page, LINK)
    for n in range(1, STEPS + 1):
        page.keyboard.press("ArrowRight")
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    history = store_value(page, "store.lossHistory")
    assert isinstance(history, list)
    app_losses = {p["step"]: p["train"] for p in history if 1 <= p["step"] <= STEPS}
    assert sorted(app_losses) == list(range(1, STEPS + 1))

    script = download(page, "export-code", tmp_path)
    assert script.name == "backprop-lab-xor-adam.py"
    result = subprocess.run(
        [sys.executable, str(script), str(STEPS)],
        cwd=tmp_path,  # away from the project: the script needs only torch and numpy
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    script_losses = [float(v) for v in re.findall(r"training set (\S+)", result.stdout)]
    assert len(script_losses) == STEPS
    assert script_losses == pytest.approx([app_losses[s] for s in range(1, STEPS + 1)], abs=1e-6)
    assert errors == []


def test_the_notebook_holds_the_same_code_in_cells(lab: Page, tmp_path: Path) -> None:
    notebook = json.loads(download(lab, "export-notebook", tmp_path).read_text())
    assert notebook["nbformat"] == 4
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds[0] == "markdown" and kinds.count("code") >= 4
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "optimizer.zero_grad()" in code and "loss.backward()" in code
    assert "sys.argv[1]" not in code  # a notebook kernel's argv is not a step count


def test_picture_csv_and_json_downloads(lab: Page, tmp_path: Path) -> None:
    for n in (1, 2, 3):
        lab.keyboard.press("ArrowRight")
        expect(lab.get_by_test_id("step-count")).to_have_text(str(n))

    picture = download(lab, "export-picture", tmp_path)
    header = picture.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert width > 700 and height > 250, "network, boundary and loss chart side by side"
    shutil.copy(picture, ARTIFACTS / "export-picture.png")

    rows = list(csv.DictReader(download(lab, "export-csv", tmp_path).read_text().splitlines()))
    assert [int(r["step"]) for r in rows][-3:] == [1, 2, 3]
    assert float(rows[-1]["train_loss"]) == pytest.approx(
        store_value(lab, "store.frame.train_loss"), abs=1e-9
    )

    run = json.loads(download(lab, "export-json", tmp_path).read_text())
    assert run["config"]["data"]["dataset"] == "circle"
    assert run["losses"][-1]["step"] == 3
    expect(lab.get_by_test_id("export-code")).to_be_hidden()  # the menu closed after use
