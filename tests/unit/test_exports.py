"""The exported notebook is the exported script in cells: run in order, they print its losses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from app.exports import notebook_from_script
from app.training.code_export import export_training_script
from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.session import TrainingSession

STEPS = 5
CONFIG = LabConfig(
    data=DataConfig(dataset="moons", n_points=120, noise=0.1, seed=5),
    model=ModelConfig(hidden_layers=[3, 3], activation="elu", seed=2),
    training=TrainingConfig(optimizer="rmsprop", learning_rate=0.01, batch_size=9),
)


def code_cells(notebook: dict[str, object]) -> list[str]:
    cells = notebook["cells"]
    assert isinstance(cells, list)
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_the_notebook_is_nbformat_4_with_the_docstring_as_its_first_cell() -> None:
    notebook = notebook_from_script(export_training_script(CONFIG).source)
    json.dumps(notebook)  # serialisable as it is
    assert notebook["nbformat"] == 4
    first = notebook["cells"][0]  # type: ignore[index]
    assert first["cell_type"] == "markdown"
    assert "Backprop Lab's training run" in "".join(first["source"])
    sections = code_cells(notebook)
    assert sections[0].startswith("import sys")
    assert [s.splitlines()[0] for s in sections[1:]] == [
        "# ---- data: the app's own generator, copied from app/training/datasets.py ----",
        "# ---- model ----",
        "# ---- loss, optimizer, schedule ----",
        "# ---- the training loop: the tutorial's five lines ----",
    ]


def test_the_notebook_cells_run_in_a_kernel_like_process_and_print_the_apps_losses(
    tmp_path: Path,
) -> None:
    notebook = notebook_from_script(export_training_script(CONFIG).source, steps=STEPS)
    program = tmp_path / "cells.py"
    # A kernel's argv is its own ("-f", a connection file): the cells must not read it.
    program.write_text(
        "import sys\nsys.argv = ['ipykernel_launcher', '-f', 'kernel.json']\n"
        + "\n\n".join(code_cells(notebook))
    )
    result = subprocess.run(
        [sys.executable, str(program)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    session = TrainingSession(CONFIG)
    expected = []
    for _ in range(STEPS):
        session.train_step()
        expected.append(session.evaluate().train_loss)
    printed = [float(v) for v in re.findall(r"training set (\S+)", result.stdout)]
    assert len(printed) == STEPS
    assert max(abs(a - b) for a, b in zip(printed, expected, strict=True)) < 1e-6
