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

import torch

from app.training.batches import SamplerPosition
from app.training.images.model_file import ModelFileError, checked_payload
from app.training.images.run import ImageRun
from app.training.images.snapshot import ImageSnapshot

FORMAT = "backprop-lab-digits-run/1"
# A run of the largest model with Adam's two moments: ~3× its weights; far under this.
MAX_RUN_BYTES = 4_000_000


class RunStateError(ModelFileError):
    field = "run"


def encode_run(run: ImageRun) -> bytes | None:
    """The run as bytes (its snapshot, as the timeline keeps them, and its last loss), or None
    while a step is in progress (phase by phase)."""
    if run.mid_step:
        return None
    snapshot = run.snapshot()
    payload = {
        "format": FORMAT,
        "config": snapshot.config.model_dump(mode="json"),
        "state_dict": snapshot.model_state,
        "step": snapshot.step,
        "optimizer": snapshot.optimizer_state,
        "scheduler": snapshot.scheduler_state,
        "sampler": dataclasses.asdict(snapshot.sampler),
        "dropout_rng": snapshot.dropout_rng_state,
        "last_loss": run.last_loss,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def decode_run(raw: bytes) -> ImageRun:
    """The run the bytes hold, rebuilt; RunStateError (nothing half loaded) if they do not."""
    config, state, step, payload = checked_payload(raw, FORMAT, MAX_RUN_BYTES)
    run = ImageRun(config)
    try:
        rng = payload["dropout_rng"]
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
            raise TypeError("dropout_rng is not a generator state")
        snapshot = ImageSnapshot(
            config=config,
            step=step,
            model_state=state,
            optimizer_state=payload["optimizer"],
            scheduler_state=payload["scheduler"],
            sampler=SamplerPosition(**payload["sampler"]),
            dropout_rng_state=rng,
            nbytes=0,
        )
        run.restore(snapshot)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise RunStateError(f"the run's training state is refused ({error})") from error
    loss = payload.get("last_loss")
    run.last_loss = float(loss) if isinstance(loss, int | float) else math.nan
    return run
