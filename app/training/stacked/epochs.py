"""Every run's mini-batches, drawn from its own BatchSampler's epochs, as one [K, batch, …] block.

Each run's shuffled epoch (its features and targets in the sampler's order) is stacked once
per epoch; a step then gathers all K batches with one index op instead of K sampler calls,
which at K=100 would cost more than the stacked step itself. The epochs are drawn with the
run's own generator in the order its sampler would draw them, so the batches are the eager
run's batches, and a batch never straddles two epochs (the last of an epoch may be shorter:
those runs' batches are padded and masked).

This module reads and writes BatchSampler's position fields directly (its public seek()
redraws every epoch since the start, too slow to call per frame): it is the one place that
does, and it keeps them exactly as BatchSampler.next() would have left them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from app.training.batches import BatchSampler


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # [K, batch, features]
    y: torch.Tensor  # [K, batch, outputs] or [K, batch] class ids
    mask: torch.Tensor | None  # bool [K, batch]: real samples; None when every batch is full
    lengths: torch.Tensor  # int64 [K]: real samples per run


class StackedEpochs:
    def __init__(
        self,
        samplers: Sequence[BatchSampler],
        inputs: Sequence[torch.Tensor],
        targets: Sequence[torch.Tensor],
        batch_size: int,
    ) -> None:
        self.samplers = list(samplers)
        self.inputs, self.targets = list(inputs), list(targets)
        self.batch_size = batch_size
        self.n = torch.tensor([len(x) for x in inputs])
        n_max = int(self.n.max())
        k = len(samplers)
        self.x = torch.zeros(k, n_max, inputs[0].shape[1])
        self.y = torch.zeros(k, n_max, *targets[0].shape[1:], dtype=targets[0].dtype)
        self.orders = [s._order for s in samplers]
        self.epochs_drawn = [s._epochs_drawn for s in samplers]
        self.cursor = torch.tensor([s._cursor for s in samplers])
        self.samples_seen = torch.tensor([s.samples_seen for s in samplers])
        self._rows = torch.arange(k).unsqueeze(1)
        self._offsets = torch.arange(batch_size)
        for i in range(k):
            self._fill(i)

    def _fill(self, i: int) -> None:
        order, n = self.orders[i], len(self.inputs[i])
        self.x[i, :n] = self.inputs[i][order]
        self.y[i, :n] = self.targets[i][order]

    def _new_epochs(self) -> None:
        """Runs at the end of an epoch draw the next, as BatchSampler.next() does."""
        for i in torch.nonzero(self.cursor >= self.n).flatten().tolist():
            sampler = self.samplers[i]
            self.orders[i] = torch.randperm(sampler.n_samples, generator=sampler._generator)
            self.epochs_drawn[i] += 1
            self.cursor[i] = 0
            self._fill(i)

    def next(self) -> Batch:
        remaining = self.n - self.cursor
        # One sync per step: whether an epoch ends (rare) and whether every batch is full.
        fewest = int(remaining.min())
        if fewest <= 0:
            self._new_epochs()
            remaining = self.n - self.cursor
            fewest = int(remaining.min())
        b = self.batch_size
        index = self.cursor.unsqueeze(1) + self._offsets
        if fewest >= b:
            lengths = torch.full_like(self.cursor, b)
            mask = None
        else:
            lengths = remaining.clamp(max=b)
            mask = self._offsets < lengths.unsqueeze(1)
            # Padding repeats a real sample of the run (masked out of its loss).
            index = torch.minimum(index, (self.n - 1).unsqueeze(1))
        self.cursor += lengths
        self.samples_seen += lengths
        return Batch(self.x[self._rows, index], self.y[self._rows, index], mask, lengths)

    def write_position(self, i: int) -> None:
        """Leave run i's sampler exactly where its eager next() calls would have left it."""
        sampler = self.samplers[i]
        sampler._order = self.orders[i]
        sampler._epochs_drawn = self.epochs_drawn[i]
        sampler._cursor = int(self.cursor[i])
        sampler.samples_seen = int(self.samples_seen[i])
