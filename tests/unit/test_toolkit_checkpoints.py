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
    config, state, _ = load_checkpoint(other)
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


def tampered(raw: bytes, points: dict[str, torch.Tensor] | None) -> bytes:
    """`raw` re-saved with some of its points replaced, or with none (as an older file)."""
    payload = torch.load(io.BytesIO(raw), weights_only=True)
    if points is None:
        del payload["points"]
    else:
        payload["points"].update(points)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def test_points_drawn_by_hand_come_back_with_the_model_file() -> None:
    source = trained()
    source.edit_points(add=[(1.5, -2.0, 1.0), (-3.0, 4.0, 0.0)], remove=[])
    source.burst(max_steps=20)
    target = TrainingSession()
    target.load_checkpoint(source.save_checkpoint())
    for part in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(target.data, part), getattr(source.data, part)), part
    assert target.data.train_x[-2:].tolist() == [[1.5, -2.0], [-3.0, 4.0]]
    assert target.evaluate().train_loss == source.evaluate().train_loss


def test_class_ids_come_back_as_class_ids() -> None:
    source = trained("blobs")
    target = TrainingSession()
    target.load_checkpoint(source.save_checkpoint())
    assert target.data.train_y.dtype == torch.int64
    assert torch.equal(target.data.train_y, source.data.train_y)


def test_a_file_without_points_regenerates_them_from_its_settings() -> None:
    source = trained()
    target = TrainingSession()
    target.load_checkpoint(tampered(source.save_checkpoint(), None))
    assert torch.equal(target.data.train_x, source.data.train_x)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ({"train_x": torch.full((3, 2), float("nan"))}, "x1 = nan is not a finite number"),
        ({"train_x": torch.full((3, 2), 99.0)}, "outside the plane"),
        ({"train_y": torch.full((3,), 0.5)}, "is not 0 or 1"),
        ({"test_x": torch.zeros(4, 3)}, "expected \\(n, 2\\)"),
        ({"train_y": torch.zeros(3, dtype=torch.int64)}, "not float32 tensors"),
        (
            {"train_x": torch.zeros(2001, 2), "train_y": torch.zeros(2001)},
            "at most 2000",
        ),
        ({"train_x": torch.zeros(0, 2), "train_y": torch.zeros(0)}, "no training points"),
    ],
)
def test_bad_points_in_a_file_are_refused_and_change_nothing(
    points: dict[str, torch.Tensor], message: str
) -> None:
    session = trained()
    raw = trained().save_checkpoint()
    if "train_x" in points and "train_y" not in points:
        points["train_y"] = torch.zeros(len(points["train_x"]))
    if "train_y" in points and "train_x" not in points:
        points["train_x"] = torch.zeros(len(points["train_y"]), 2)
    if "test_x" in points:
        points["test_y"] = torch.zeros(len(points["test_x"]))
    data_before = session.data
    with pytest.raises(CheckpointError, match=message):
        session.load_checkpoint(tampered(raw, points))
    assert session.data is data_before
