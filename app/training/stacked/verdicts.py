"""The eager divergence decisions (divergence.judge_step) for a group's runs, each judged at
the steps its eager run would be judged at, with one batched check for the runs due, and the
burst's results they go into."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from app.training.divergence import (
    CHECK_EVERY_STEPS,
    DIVERGED_LOSS_FACTOR,
    DIVERGED_PARAMETER_MAGNITUDE,
    Verdict,
    loss_problem,
    training_loss_problem,
)
from app.training.stacked.epochs import StackedEpochs
from app.training.stacked.network import StackedNetwork
from app.training.stacked.objective import data_losses
from app.training.trainer import TrainingSession


class Judge:
    def __init__(
        self,
        network: StackedNetwork,
        epochs: StackedEpochs,
        loss: str,
        references: list[float],
    ) -> None:
        self.network, self.epochs, self.loss = network, epochs, loss
        # The training loss a doubling is measured against, per run (the trainer's own).
        self.references = references
        # The chosen runs' training points by the runs checked together: runs at different
        # step counts are checked at different steps, in at most CHECK_EVERY_STEPS sets that
        # repeat, and gathering the points again for each check cost as much as its forward.
        self._points: dict[tuple[int, ...], _CheckedPoints] = {}
        self._slot_spans: list[tuple[int, int]] | None = None

    def plan(self, step_counts: torch.Tensor, steps: int) -> dict[int, list[int]]:
        """Which runs are checked after each of the next `steps` steps (their step number
        then a multiple of CHECK_EVERY_STEPS)."""
        due: dict[int, list[int]] = defaultdict(list)
        for k, count in enumerate(step_counts.tolist()):
            for i in range((-count - 1) % CHECK_EVERY_STEPS, steps, CHECK_EVERY_STEPS):
                due[i].append(k)
        return due

    @torch.no_grad()
    def check(self, runs: list[int], batch_losses: torch.Tensor) -> dict[int, Verdict]:
        """judge_step's verdict for each of `runs` after a step at which they are checked:
        the batch loss, then the parameters, then the loss on all training points — all
        runs' figures at once, the reasons spelled out only for a run that has one. Runs at
        different step counts are checked at different steps, so a group checks a few runs
        nearly every step: the figures take as few torch calls as they can."""
        points = self._checked_points(runs)
        chosen = points.chosen
        tensors = self.network.tensors
        # Every parameter of a chosen run in one row: one copy, one |max| over it all.
        flat = torch.cat([t.detach().flatten(1) for t in tensors], dim=1).index_select(0, chosen)
        params = [
            flat[:, a:b].view(len(runs), *t.shape[1:])
            for (a, b), t in zip(self._spans(), tensors, strict=True)
        ]
        largest = flat.abs().amax(1)  # NaN if any is NaN
        output = self.network.forward(points.x, params)[-1]
        training = data_losses(self.loss, output, points.y, points.mask, points.n)
        references = torch.tensor([self.references[k] for k in runs])
        flagged = (
            ~torch.isfinite(batch_losses.index_select(0, chosen))
            | ~(largest <= DIVERGED_PARAMETER_MAGNITUDE)  # too large, infinite or NaN
            | (training > DIVERGED_LOSS_FACTOR * references)
        )
        verdicts: dict[int, Verdict] = {}
        for row in torch.nonzero(flagged).flatten().tolist():
            k = runs[row]
            reason = loss_problem(float(batch_losses[k])) or self._parameter_problem(
                [float(p[row].abs().max()) for p in params]
            )
            if reason is not None:
                verdicts[k] = Verdict(reason, roll_back=True)
                continue
            doubled = training_loss_problem(float(training[row]), self.references[k])
            if doubled is not None:
                verdicts[k] = Verdict(doubled, roll_back=False)
        return verdicts

    def _spans(self) -> list[tuple[int, int]]:
        """Where each parameter's values lie in a run's row of all of them."""
        if self._slot_spans is None:
            ends = list(itertools.accumulate(t[0].numel() for t in self.network.tensors))
            self._slot_spans = list(zip([0, *ends[:-1]], ends, strict=True))
        return self._slot_spans

    def _parameter_problem(self, largest: list[float]) -> str | None:
        """divergence.parameter_problem from each parameter's largest |value|."""
        for slot, value in zip(self.network.slots, largest, strict=True):
            if not math.isfinite(value):
                return f"parameter {slot.name} became non-finite"
            if value > DIVERGED_PARAMETER_MAGNITUDE:
                return f"parameter {slot.name} grew past {DIVERGED_PARAMETER_MAGNITUDE:g}"
        return None

    def _checked_points(self, runs: list[int]) -> _CheckedPoints:
        """All training points of each of `runs` (Evaluator.training_loss's), as stacked."""
        key = tuple(runs)
        epochs = self.epochs
        points = self._points.get(key)
        if points is None or points.source is not epochs.source:
            chosen = torch.tensor(runs)
            source = epochs.source.index_select(0, chosen)
            x, y = source[..., : epochs.n_features], source[..., epochs.n_features :]
            if epochs.class_ids:
                y = y.squeeze(2).long()
            n = epochs.n.index_select(0, chosen)
            mask = torch.arange(source.shape[1]) < n.unsqueeze(1)
            points = _CheckedPoints(
                epochs.source, chosen, x, y, None if bool(mask.all()) else mask, n.float()
            )
            self._points[key] = points
        return points


@dataclass(frozen=True)
class _CheckedPoints:
    source: torch.Tensor  # the epochs' source they were taken from: a new one takes anew
    chosen: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None
    n: torch.Tensor


@dataclass(frozen=True)
class RunResult:
    """One run's share of a burst: its per-step losses and, if it diverged, the step and the
    verdict its eager run would have had there (divergence.judge_step). On `roll_back` its
    state is unusable: the caller takes it out and restores its last TrainingState; otherwise
    (a training loss that doubled) the run stopped at that step with its state kept."""

    session: TrainingSession
    losses: list[float]
    diverged_at: int | None
    verdict: Verdict | None

    @property
    def reason(self) -> str | None:
        return None if self.verdict is None else self.verdict.reason


def results(
    members: list[TrainingSession],
    losses: torch.Tensor,
    verdicts: dict[int, tuple[int, Verdict]],
    step_counts: torch.Tensor,
) -> list[RunResult]:
    """Per run: its losses [steps, K] and its first divergence: a non-finite batch loss
    (looked for once for the burst: a check per step would cost a sync per step) or a
    check's verdict (step, verdict), whichever came first."""
    start = step_counts - len(losses)
    bad = ~torch.isfinite(losses)
    for k in torch.nonzero(bad.any(0)).flatten().tolist():
        i = int(bad[:, k].int().argmax())
        step = int(start[k]) + i + 1
        if k not in verdicts or verdicts[k][0] > step:
            reason = loss_problem(float(losses[i, k]))
            assert reason is not None
            verdicts[k] = (step, Verdict(reason, roll_back=True))
    per_run = losses.T.tolist()
    return [
        RunResult(
            session,
            per_run[k],
            verdicts[k][0] if k in verdicts else None,
            verdicts[k][1] if k in verdicts else None,
        )
        for k, session in enumerate(members)
    ]
