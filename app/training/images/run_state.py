"""A whole image run as bytes, for the store: what a restart or another replica needs to go on
exactly where it was — settings, weights (batch norm's running statistics included), optimizer
and schedule state, the batch order's position, dropout's generator, step and last loss.

The record is read back as untrusted input, like a model file: torch.load(weights_only=True),
the settings validated, every weight checked against the model they describe (model_file.py).
Only a run between two steps is captured: halfway through a step phase by phase, the batch is
drawn and the gradients half made, which no fresh run could pick up.
"""

from __future__ import annotations

import dataclasses
import io
import math
from typing import Any

import torch

from app.training.batches import SamplerPosition
from app.training.images.model_file import ModelFileError, checked_payload
from app.training.images.run import ImageRun

FORMAT = "backprop-lab-digits-run/1"
# A run of the largest model with Adam's two moments: ~3× its weights; far under this.
MAX_RUN_BYTES = 4_000_000


class RunStateError(ModelFileError):
    field = "run"


def encode_run(run: ImageRun) -> bytes | None:
    """The run as bytes, or None while a step is in progress (phase by phase)."""
    if run.mid_step:
        return None
    payload = {
        "format": FORMAT,
        "config": run.config.model_dump(mode="json"),
        "state_dict": run.model.state_dict(),
        "step": run.step_count,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "sampler": dataclasses.asdict(run.sampler.position()),
        "dropout_rng": run.dropout_rng_state,
        "last_loss": run.last_loss,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def decode_run(raw: bytes) -> ImageRun:
    """The run the bytes hold, rebuilt; RunStateError (nothing half loaded) if they do not."""
    config, state, step, payload = checked_payload(raw, FORMAT, MAX_RUN_BYTES)
    run = ImageRun(config)
    run.model.load_state_dict(state)
    try:
        _restore_training(run, payload)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise RunStateError(f"the run's training state is refused ({error})") from error
    run.step_count = step
    return run


def _restore_training(run: ImageRun, payload: dict[str, Any]) -> None:
    run.optimizer.load_state_dict(payload["optimizer"])
    run.scheduler.load_state_dict(payload["scheduler"])
    run.sampler.seek(SamplerPosition(**payload["sampler"]))
    rng = payload["dropout_rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        raise TypeError("dropout_rng is not a generator state")
    run.dropout_rng_state = rng
    loss = payload.get("last_loss")
    run.last_loss = float(loss) if isinstance(loss, int | float) else math.nan
