"""The exported script is the app's run: executed on its own, it prints the app's losses."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.training.code_export import PHASE_LINE_PREFIXES, export_training_script
from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.session import TrainingSession
from app.training.surgery import NeuronSwitch, WeightEdit

STEPS = 20
CONFIGS = {
    "defaults": LabConfig(),
    "spiral-relu-adam": LabConfig(
        data=DataConfig(dataset="spiral", n_points=300, noise=0.2, train_fraction=0.7, seed=4),
        model=ModelConfig(hidden_layers=[8, 8, 3], activation="relu", init="kaiming", seed=9),
        training=TrainingConfig(optimizer="adam", learning_rate=0.01, batch_size=7),
    ),
    "xor-features-regularised-scheduled": LabConfig(
        data=DataConfig(dataset="xor", n_points=200, noise=0.1, seed=2),
        model=ModelConfig(
            hidden_layers=[5, 4],
            features=["x1", "x2", "x1x2", "sin_x1"],
            layer_activations=["prelu", "sigmoid"],
            init="playground",
            frozen_layers=[1],
            seed=3,
        ),
        training=TrainingConfig(
            optimizer="sgd",
            learning_rate=0.1,
            momentum=0.9,
            nesterov=True,
            weight_decay=0.001,
            l1=0.0005,
            activation_penalty="l2",
            activation_penalty_strength=0.01,
            grad_clip_norm=1.0,
            schedule="step",
            schedule_step_size=5,
            schedule_gamma=0.5,
            batch_size=16,
        ),
    ),
}


def run_script(source: str, tmp_path: Path) -> list[float]:
    script = tmp_path / "train.py"
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script), str(STEPS)],
        cwd=tmp_path,  # not the project: the script must not need it
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [float(v) for v in re.findall(r"loss (\S+)", result.stdout)]


@pytest.mark.parametrize("name", CONFIGS)
def test_the_script_reproduces_the_apps_first_20_losses(name: str, tmp_path: Path) -> None:
    config = CONFIGS[name]
    session = TrainingSession(config)
    app_losses = [session.train_step() for _ in range(STEPS)]
    script_losses = run_script(export_training_script(config).source, tmp_path)
    assert script_losses == pytest.approx(app_losses, abs=1e-6)


def test_the_script_is_valid_python_with_the_five_phase_lines_marked() -> None:
    export = export_training_script(LabConfig())
    ast.parse(export.source)
    lines = export.source.splitlines()
    assert list(export.phase_lines) == list(PHASE_LINE_PREFIXES)
    for phase, number in export.phase_lines.items():
        assert lines[number - 1].startswith(PHASE_LINE_PREFIXES[phase])
    assert sorted(export.phase_lines.values()) == list(export.phase_lines.values())


def test_the_script_imports_nothing_from_the_project() -> None:
    tree = ast.parse(export_training_script(CONFIGS["xor-features-regularised-scheduled"]).source)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"sys", "numpy", "torch"}


def test_the_script_replays_weights_set_and_neurons_switched_by_hand(tmp_path: Path) -> None:
    config = CONFIGS["xor-features-regularised-scheduled"]
    session = TrainingSession(config)
    app_losses = [session.train_step() for _ in range(5)]
    session.surgery.edit_weight(session.model, WeightEdit(5, 0, 1, 2, 0.5))
    session.surgery.switch_neuron(session.model, NeuronSwitch(5, 1, 2, on=False))
    app_losses += [session.train_step() for _ in range(7)]
    session.surgery.switch_neuron(session.model, NeuronSwitch(12, 1, 2, on=True))
    session.surgery.switch_neuron(session.model, NeuronSwitch(12, 0, 4, on=False))
    app_losses += [session.train_step() for _ in range(STEPS - 12)]
    source = export_training_script(config, edits=session.surgery.edits).source
    assert "linears[0].weight[1, 2] = 0.5" in source
    assert run_script(source, tmp_path) == pytest.approx(app_losses, abs=1e-6)
