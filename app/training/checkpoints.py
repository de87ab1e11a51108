"""Model files: the state_dict plus the settings, one torch file; loaded with weights_only=True.

A checkpoint is untrusted input. torch.load(weights_only=True) unpickles only tensors and plain
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
from app.training.datasets import BLOB_CENTRES, task_of
from app.training.model import build_model

FORMAT = "backprop-lab-checkpoint/1"


class CheckpointError(ValueError):
    """The file is not a checkpoint this app can load; the message says why."""


def save_checkpoint(config: LabConfig, state_dict: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    payload = {
        "format": FORMAT,
        "config": config.model_dump_json(),
        "state_dict": {k: v.detach().clone() for k, v in state_dict.items()},
    }
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_checkpoint(
    raw: bytes, max_bytes: int = limits.MAX_CHECKPOINT_BYTES
) -> tuple[LabConfig, dict[str, torch.Tensor]]:
    """The settings and weights in `raw`, checked; CheckpointError if anything is off."""
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
    n_outputs = len(BLOB_CENTRES) if task_of(config.data.dataset) == "multiclass" else 1
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
    return config, state
