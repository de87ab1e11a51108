"""One image run's state at one step (ImageSnapshot): everything training on from it needs.

Restoring a snapshot and training on with its settings replays the same steps bit for bit: the
weights and batch norm's running statistics (the model's state dict), the optimizer's and the
schedule's state, the sampler's position (its epoch order is redrawn from the seed), the
dropout generator's state and the step count. The loss curve up to the step is the timeline's
(history.py): a snapshot is always of a run whose curve, up to its step, every later branch
keeps unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from app.training.batches import SamplerPosition
from app.training.images.config import ImageLabConfig
from app.training.state import tensor_bytes

# The Python objects around the tensors (the state dicts, the settings, the sampler position),
# measured with tracemalloc on the default CNN with Adam: ~10 kB; counted generously.
SNAPSHOT_OVERHEAD_BYTES = 12 * 1024


@dataclass(frozen=True)
class ImageSnapshot:
    """Never modified after capture: a restore hands the run copies, not these objects."""

    config: ImageLabConfig
    step: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any]
    sampler: SamplerPosition
    dropout_rng_state: torch.Tensor
    nbytes: int


def snapshot_bytes(
    model_state: dict[str, torch.Tensor], optimizer_state: dict[str, Any], rng: torch.Tensor
) -> int:
    """What a snapshot holds in memory: its tensors plus the objects around them."""
    return (
        SNAPSHOT_OVERHEAD_BYTES
        + tensor_bytes(model_state)
        + tensor_bytes(optimizer_state)
        + tensor_bytes(rng)
    )
