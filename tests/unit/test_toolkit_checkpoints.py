"""Model files: a saved and reloaded model gives the same outputs; bad files change nothing."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from app.training.checkpoints import CheckpointError, load_checkpoint
from app.training.config import DataConfig, LabConfig, ModelConfig
from app.training.session import TrainingSession


def trained(dataset: str = "circle", **model: object) -> TrainingSession:
    session = TrainingSession(
        LabConfig(
            data=DataConfig(dataset=dataset, n_points=200),  # type: ignore[arg-type]
            model=ModelConfig(**{"hidden_layers": [5, 3], **model}),  # type: ignore[arg-type]
        )
    )
    session.burst(max_steps=100)
    return session


@pytest.mark.parametrize(
    ("dataset", "model"),
    [
        ("circle", {}),
        ("blobs", {"layer_activations": ["prelu", "gelu"], "features": ["x1", "x2", "x1x2"]}),
    ],
)
def test_a_saved_and_reloaded_model_gives_the_same_outputs(dataset: str, model: dict) -> None:  # type: ignore[type-arg]
    source = trained(dataset, **model)
    raw = source.save_checkpoint()
    target = TrainingSession()
    target.load_checkpoint(raw)
    assert target.config == source.config
    grid = TrainingSession.input_grid(9)
    with torch.no_grad():
        assert torch.equal(target.model(grid), source.model(grid))


class RunsCode:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch /tmp/backprop-lab-pwned",))


def test_a_pickle_payload_is_refused_without_being_executed(tmp_path: Path) -> None:
    marker = Path("/tmp/backprop-lab-pwned")
    marker.unlink(missing_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": "backprop-lab-checkpoint/1", "evil": RunsCode()}, buffer)
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        load_checkpoint(buffer.getvalue())
    with pytest.raises(CheckpointError):
        load_checkpoint(pickle.dumps(RunsCode()))
    assert not marker.exists(), "the payload ran"


def test_bad_files_say_what_is_wrong_and_change_nothing() -> None:
    session = trained()
    before = [p.detach().clone() for p in session.model.parameters()]
    other = trained(hidden_layers=[2]).save_checkpoint()
    foreign = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, foreign)
    cases = {
        b"not a torch file": "not a PyTorch weights file",
        foreign.getvalue(): "not a Backprop Lab checkpoint",
        b"x" * 300_000: "at most",
    }
    for raw, message in cases.items():
        with pytest.raises(CheckpointError, match=message):
            session.load_checkpoint(raw)
    config, state = load_checkpoint(other)
    state["layers.0.weight"] = torch.zeros(7, 7)
    buffer = io.BytesIO()
    torch.save(
        {
            "format": "backprop-lab-checkpoint/1",
            "config": config.model_dump_json(),
            "state_dict": state,
        },
        buffer,
    )
    with pytest.raises(CheckpointError, match="layers.0.weight is"):
        session.load_checkpoint(buffer.getvalue())
    assert all(torch.equal(p, q) for p, q in zip(session.model.parameters(), before, strict=True))
