"""A digits run diverges when its loss is not a number, its weights blow up, or its training
loss stays far above a uniform guess's, not on one bad batch."""

from __future__ import annotations

import math

import torch
from torch import nn

from app.training.images.divergence import WINDOW, LossWatch


def model(scale: float = 1.0) -> nn.Module:
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.fill_(scale)
    return layer


def test_a_loss_that_stays_above_twice_a_uniform_guess_is_divergence_one_bad_batch_is_not() -> None:
    watch = LossWatch(10)
    assert watch.limit == 2 * math.log(10)
    assert watch.problem([1e6], model()) is None  # one batch
    assert watch.problem([2.0] * (WINDOW - 2), model()) is None  # mean ~5e4, but the window
    reason = watch.problem([2.0], model())  # is full now: the bad batch is in it
    assert reason is not None and "averaged" in reason and "2.3" in reason
    watch.forget()
    assert watch.problem([4.0] * WINDOW, model()) is None  # 4.0 < 4.61
    assert watch.problem([4.4] * (WINDOW // 2), model()) is None  # the window: 4.2 on average
    watch.forget()
    assert watch.problem([5.0] * WINDOW, model()) is not None


def test_a_loss_not_a_number_or_weights_past_a_million_are_divergence_at_once() -> None:
    assert LossWatch(10).problem([0.5, math.nan], model()) == "the loss became nan"
    reason = LossWatch(10).problem([0.5], model(2e6))
    assert reason is not None and "weight" in reason and "1e+06" in reason
