"""A group's divergence checks give each run the verdict its eager judge_step gives."""

from __future__ import annotations

import math

import pytest
import torch

from app.training.divergence import CHECK_EVERY_STEPS, judge_step
from app.training.session import TrainingSession
from app.training.stacked import RunGroup
from tests.unit.stacked_oracle import twins


def spoil(run: TrainingSession, how: str) -> None:
    """Put a run's parameters in one of the states a check is there to catch."""
    with torch.no_grad():
        first, *_, last = run.model.layers
        if how == "nan":
            first.weight[0, 1] = math.nan
        elif how == "inf":
            last.bias[0] = math.inf
        elif how == "huge":
            first.bias[1] = 2e6
        elif how == "doubled":
            last.weight.mul_(40.0)  # confidently wrong: the training loss far above twice


HOW = ["fine", "nan", "inf", "huge", "doubled"]


@pytest.mark.parametrize("batch_loss", [0.5, math.nan])
def test_each_runs_verdict_is_its_eager_verdict(batch_loss: float) -> None:
    runs, eager = twins([{"learning_rate": 0.01 * (i + 1)} for i in range(len(HOW))])
    for a, b, how in zip(runs, eager, HOW, strict=True):
        spoil(a, how)
        spoil(b, how)
    group = RunGroup(runs)
    losses = torch.full((len(runs),), batch_loss)
    # Checked in sets, as runs at different step counts are, and each set twice (cached).
    for chosen in ([0, 2, 4], [1, 3], [0, 1, 2, 3, 4], [0, 2, 4]):
        verdicts = group.judge.check(chosen, losses)
        for k in chosen:
            expected = judge_step(
                CHECK_EVERY_STEPS,
                batch_loss,
                eager[k].model,
                eager[k].training_loss,
                eager[k].divergence_reference,
            )
            assert verdicts.get(k) == expected, (HOW[k], verdicts.get(k), expected)
        assert set(verdicts) <= set(chosen)
    if not math.isnan(batch_loss):
        assert group.judge.check([0], losses) == {}
        assert {k: v.roll_back for k, v in group.judge.check([1, 2, 3, 4], losses).items()} == {
            1: True,
            2: True,
            3: True,
            4: False,
        }
