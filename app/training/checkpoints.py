"""Model files ("checkpoints"): a TrainingState's settings and weights plus the points, one file.

Loaded with weights_only=True. The points travel too, so points drawn by hand or uploaded come
back with the model (files without them, from before, regenerate the points from the settings).
Only the weights and settings are kept: a loaded model starts at step 0 with a fresh optimizer.

A model file is untrusted input. torch.load(weights_only=True) unpickles only tensors and plain
containers, so a pickle that would run code is refused before anything executes; the file is
then checked against the model its settings describe before a single weight changes.
"""

from __future__ import annotations

import io
import json

import torch
from pydantic import ValidationError

from app import limits
from app.training.config import LabConfig
from app.training.csv_data import point_problem
from app.training.datasets import Dataset, task_of
from app.training.model import build_model
from app.training.state import TrainingState
from app.training.task import TASKS, TaskName

FORMAT = "backprop-lab-checkpoint/1"


class CheckpointError(ValueError):
    """The file is not a checkpoint this app can load; the message says why."""


SPLITS = ("train", "test")


def save_checkpoint(state: TrainingState, data: Dataset) -> bytes:
    """A model file of `state` (its settings and weights; the optimizer starts afresh on load)
    and the points `data`."""
    buffer = io.BytesIO()
    points: dict[str, torch.Tensor] = {}
    for split in SPLITS:
        points[f"{split}_x"] = getattr(data, f"{split}_x").detach().clone()
        # Labels as floats for every task: class ids, 0/1, or regression targets.
        points[f"{split}_y"] = getattr(data, f"{split}_y").reshape(-1).to(torch.float32)
    payload = {
        "format": FORMAT,
        "config": state.config.model_dump_json(),
        "state_dict": state.model_state,
        "points": points,
    }
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_checkpoint(
    raw: bytes, max_bytes: int = limits.MAX_CHECKPOINT_BYTES
) -> tuple[LabConfig, dict[str, torch.Tensor], Dataset | None]:
    """The settings, weights and points in `raw`, checked; CheckpointError if anything is off.
    The points are None in a file that has none (the settings make them)."""
    if len(raw) > max_bytes:
        raise CheckpointError(f"the file is {len(raw)} bytes; at most {max_bytes} are accepted")
    try:
        payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, …
        raise CheckpointError(f"not a PyTorch weights file ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"not a Backprop Lab checkpoint (expected format {FORMAT})")
    try:
        config = LabConfig.model_validate(json.loads(str(payload.get("config"))))
    except (ValidationError, json.JSONDecodeError) as error:
        raise CheckpointError(f"the settings in the file are invalid: {error}") from None
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError("the file holds no state_dict of tensors")
    m = config.model
    n_outputs = TASKS[task_of(config.data.dataset)].n_outputs
    expected = build_model(
        len(m.features),
        list(m.hidden_layers),
        m.activations_per_layer(),
        m.init,
        m.seed,
        n_outputs=n_outputs,
        features=list(m.features),
    ).state_dict()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise CheckpointError(f"the weights do not fit the model: missing {missing}, extra {extra}")
    for name, tensor in state.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.dtype != want.dtype:
            raise CheckpointError(
                f"{name} is {tuple(tensor.shape)} {tensor.dtype}; the model has "
                f"{tuple(want.shape)} {want.dtype}"
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{name} holds non-finite values")
    return config, state, _points(payload.get("points"), task_of(config.data.dataset))


def _points(points: object, task: TaskName) -> Dataset | None:
    """The file's points as a Dataset, each checked as a drawn or uploaded one would be."""
    if points is None:
        return None
    keys = {f"{split}_{part}" for split in SPLITS for part in "xy"}
    if (
        not isinstance(points, dict)
        or set(points) != keys
        or not all(isinstance(v, torch.Tensor) for v in points.values())
        or not all(v.dtype == torch.float32 for v in points.values())
    ):
        raise CheckpointError(f"the points in the file are not float32 tensors {sorted(keys)}")
    total = 0
    for split in SPLITS:
        x, y = points[f"{split}_x"], points[f"{split}_y"]
        if x.ndim != 2 or x.shape[1] != 2 or y.shape != (len(x),):
            raise CheckpointError(
                f"the {split} points are {tuple(x.shape)} with labels {tuple(y.shape)}; "
                "expected (n, 2) and (n,)"
            )
        total += len(x)
        for (x1, x2), label in zip(x.tolist(), y.tolist(), strict=True):
            problem = point_problem(task, x1, x2, label)
            if problem:
                raise CheckpointError(f"a {split} point in the file: {problem}")
    if len(points["train_x"]) == 0:
        raise CheckpointError("the file has no training points")
    if total > limits.MAX_POINTS:
        raise CheckpointError(f"the file has {total} points; at most {limits.MAX_POINTS}")
    targets = TASKS[task].targets
    return Dataset(
        points["train_x"],
        targets(points["train_y"]),
        points["test_x"],
        targets(points["test_y"]),
        task,
    )
