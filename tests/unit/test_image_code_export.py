"""The digits lab's exported script replays the app's run: same losses, same test result."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.training.images.code_export import export_image_script
from app.training.images.config import ImageLabConfig
from app.training.images.run import ImageRun
from app.training.phases import PHASES

STEPS = 15
CONFIGS = {
    "default-cnn": {},
    "mlp-dropout-batchnorm-skips": {
        "model": {
            "conv_blocks": [],
            "hidden_layers": [32, 32],
            "dropout": 0.3,
            "batchnorm": True,
            "residual": True,
            "activation": "tanh",
            "seed": 7,
        },
        "training": {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    },
    "cnn-5x5-unpadded-scheduled-clipped": {
        "data": {"seed": 3, "train_fraction": 0.5},
        "model": {
            "conv_blocks": [{"channels": 6, "kernel_size": 5, "padding": False, "pool": False}],
            "hidden_layers": [24],
            "batchnorm": True,
        },
        "training": {
            "optimizer": "rmsprop",
            "learning_rate": 0.005,
            "schedule": "cosine",
            "schedule_steps": 20,
            "grad_clip_norm": 1.0,
            "batch_size": 17,
            "weight_decay": 0.001,
        },
    },
}


def run_script(source: str, tmp_path: Path) -> tuple[list[float], float, float]:
    script = tmp_path / "train_digits.py"
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script), str(STEPS)],
        cwd=tmp_path,  # not the project: the script must not need it
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    losses = [float(v) for v in re.findall(r"step \d+: loss (\S+)", result.stdout)]
    test = re.search(r"test loss (\S+) accuracy (\S+)", result.stdout)
    assert test, result.stdout
    return losses, float(test.group(1)), float(test.group(2))


@pytest.mark.parametrize("name", CONFIGS)
def test_the_script_reproduces_the_apps_losses_and_test_result(name: str, tmp_path: Path) -> None:
    config = ImageLabConfig.model_validate(CONFIGS[name])
    run = ImageRun(config)
    app_losses = run.train(STEPS)
    evaluation = run.evaluate()
    losses, test_loss, accuracy = run_script(export_image_script(config).source, tmp_path)
    assert losses == pytest.approx(app_losses, abs=1e-6)
    assert test_loss == pytest.approx(evaluation.test_loss, abs=1e-6)
    assert accuracy == pytest.approx(evaluation.test_accuracy, abs=1e-6)


def test_the_five_phase_lines_are_marked_in_order() -> None:
    export = export_image_script(ImageLabConfig())
    lines = export.source.splitlines()
    numbers = [export.phase_lines[phase] for phase in PHASES]
    assert numbers == sorted(numbers) and numbers[-1] - numbers[0] == 4
    assert lines[numbers[1] - 1].strip() == "output = model(x)"
