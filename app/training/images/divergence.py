"""When a digits run has blown up although its loss is still a number.

Cross-entropy over ten classes is ln 10 ≈ 2.3 for a uniform guess. A learning rate far too
high can drive the weights huge while the loss stays finite (measured: an MLP at SGD rate 10
from a trained state sat at a loss of ~2e11 for thousands of steps, never NaN), and every
picture on the page then means nothing. So, as the plane lab calls a doubled loss diverged,
the digits lab calls a run diverged when the mean training loss of its last WINDOW steps is
above twice the uniform guess's, or a parameter passed DIVERGED_PARAMETER_MAGNITUDE.
"""

from __future__ import annotations

import math
from collections import deque

from torch import nn

from app.training.divergence import DIVERGED_LOSS_FACTOR, parameter_problem

# Steps the mean is over: one bad batch (or the first steps after a change) is not divergence.
WINDOW = 20


class LossWatch:
    """The last WINDOW training losses of a run, and the verdict on them and its weights."""

    def __init__(self, classes: int) -> None:
        self.limit = DIVERGED_LOSS_FACTOR * math.log(classes)
        self._recent: deque[float] = deque(maxlen=WINDOW)

    def forget(self) -> None:
        """A fresh start (Play, a change of settings, a rewind): the steps before do not count."""
        self._recent.clear()

    def problem(self, losses: list[float], model: nn.Module) -> str | None:
        """Why the run diverged after these steps' `losses`, or None."""
        self._recent.extend(losses)
        if losses and not math.isfinite(losses[-1]):
            return f"the loss became {losses[-1]}"
        weights = parameter_problem(model)
        if weights is not None:
            return weights
        if len(self._recent) == WINDOW:
            mean = sum(self._recent) / WINDOW
            if mean > self.limit:
                return (
                    f"the training loss averaged {mean:.3g} over {WINDOW} steps, above twice "
                    f"a uniform guess's {self.limit / DIVERGED_LOSS_FACTOR:.3g}"
                )
        return None
