"""An image run written to bytes and read back goes on exactly as it would have."""

from __future__ import annotations

import io

import pytest
import torch

from app.training.images.config import ImageLabConfig
from app.training.images.model_file import ModelFileError
from app.training.images.run import ImageRun
from app.training.images.run_state import RunStateError, decode_run, encode_run

# Everything with state of its own: dropout's generator, batch norm's running statistics,
# Adam's moments, a schedule's position, a batch size that does not divide the data.
CONFIG = ImageLabConfig.model_validate(
    {
        "model": {"hidden_layers": [16], "dropout": 0.3, "batchnorm": True},
        "training": {"batch_size": 23, "schedule": "step", "schedule_step_size": 7},
    }
)


def test_a_run_read_back_continues_bit_for_bit() -> None:
    torch.set_num_threads(1)
    run = ImageRun(CONFIG)
    run.train(60)  # past an epoch: the batch order has been reshuffled
    raw = encode_run(run)
    assert raw is not None
    restored = decode_run(raw)
    assert restored.step_count == 60 and restored.last_loss == run.last_loss
    assert restored.train(25) == run.train(25)
    for (name, mine), theirs in zip(
        run.model.state_dict().items(), restored.model.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, theirs), name
    assert restored.optimizer.param_groups[0]["lr"] == run.optimizer.param_groups[0]["lr"]


def test_halfway_through_a_step_there_is_nothing_to_write() -> None:
    run = ImageRun(CONFIG)
    run.step_phase()
    assert encode_run(run) is None
    while run.mid_step:
        run.step_phase()
    assert encode_run(run) is not None


def test_a_record_that_is_not_a_run_is_refused_whole() -> None:
    run = ImageRun(CONFIG)
    run.train(2)
    raw = encode_run(run)
    assert raw is not None
    with pytest.raises(ModelFileError):
        decode_run(raw[: len(raw) // 2])
    payload = torch.load(io.BytesIO(raw), weights_only=True)
    payload["optimizer"] = {"state": {}, "param_groups": []}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with pytest.raises(RunStateError):
        decode_run(buffer.getvalue())
