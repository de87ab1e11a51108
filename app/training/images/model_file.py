"""An image run's model file: its settings, its weights and its step, as one torch file.

A model file is untrusted input: torch.load(weights_only=True) unpickles only tensors and plain
containers, the settings are validated as any page's are, and every weight must have the shape
the settings' model has, or nothing is loaded.
"""

from __future__ import annotations

import io
from typing import Any

import torch
from pydantic import ValidationError

from app import limits
from app.training.images.config import ImageLabConfig
from app.training.images.network import build_image_model

FORMAT = "backprop-lab-digits/1"


class ModelFileError(ValueError):
    field = "model_file"


def save_model_file(config: ImageLabConfig, model: torch.nn.Module, step: int) -> bytes:
    buffer = io.BytesIO()
    payload = {
        "format": FORMAT,
        "config": config.model_dump(mode="json"),
        "state_dict": model.state_dict(),
        "step": step,
    }
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_model_file(
    raw: bytes, max_bytes: int = limits.MAX_CHECKPOINT_BYTES
) -> tuple[ImageLabConfig, dict[str, torch.Tensor], int]:
    """The settings, the weights (checked against the model they claim) and the step."""
    config, state, step, _ = checked_payload(raw, FORMAT, max_bytes)
    return config, state, step


def checked_payload(
    raw: bytes, expected_format: str, max_bytes: int
) -> tuple[ImageLabConfig, dict[str, torch.Tensor], int, dict[str, Any]]:
    """A torch file of this lab read as untrusted input: its settings, its weights checked
    against the model those settings describe, its step, and the whole payload."""
    if len(raw) > max_bytes:
        raise ModelFileError(f"the model file is {len(raw)} bytes; at most {max_bytes}")
    try:
        payload: Any = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file that is not its own
        raise ModelFileError(f"not a model file of this lab ({type(error).__name__})") from error
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise ModelFileError(f"not a digits-lab model file (format {expected_format!r} expected)")
    try:
        config = ImageLabConfig.model_validate(payload.get("config"))
    except ValidationError as error:
        raise ModelFileError(
            f"the file's settings are refused: {error.errors()[0]['msg']}"
        ) from error
    state = payload.get("state_dict")
    expected = build_image_model(config.model).state_dict()
    if not isinstance(state, dict) or set(state) != set(expected):
        raise ModelFileError("the file's weights are not those of the model its settings describe")
    for name, tensor in expected.items():
        given = state[name]
        if not isinstance(given, torch.Tensor) or given.shape != tensor.shape:
            raise ModelFileError(
                f"{name}: the file's shape differs from the model's {list(tensor.shape)}"
            )
        if given.dtype.is_floating_point and not bool(given.isfinite().all()):
            raise ModelFileError(f"{name}: the file holds a weight that is not a finite number")
    step = payload.get("step")
    return config, state, step if isinstance(step, int) and step >= 0 else 0, payload
