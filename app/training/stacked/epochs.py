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
        self.n_features = inputs[0].shape[1]
        self.class_ids = targets[0].dim() == 1
        # Features and targets side by side, so one index_select gathers a step's batches
        # (class ids are small integers: exact as floats).
        width = self.n_features + (1 if self.class_ids else targets[0].shape[1])
        self.rows = torch.zeros(k, n_max, width)
        self._flat = self.rows.view(k * n_max, width)
        self._row_starts = (torch.arange(k) * n_max).unsqueeze(1)
        self.orders = [s._order for s in samplers]
        self.epochs_drawn = [s._epochs_drawn for s in samplers]
        self.cursor = torch.tensor([s._cursor for s in samplers])
        self.samples_seen = torch.tensor([s.samples_seen for s in samplers])
        self._offsets = torch.arange(batch_size)
        for i in range(k):
            self._fill(i)
        # Steps that certainly end no epoch and fill every batch: no need to look until then.
        self._safe_steps = 0

    def _fill(self, i: int) -> None:
        order, n = self.orders[i], len(self.inputs[i])
        self.rows[i, :n, : self.n_features] = self.inputs[i][order]
        target = self.targets[i][order]
        self.rows[i, :n, self.n_features :] = target.view(n, -1).to(self.rows.dtype)

    def _new_epochs(self) -> None:
        """Runs at the end of an epoch draw the next, as BatchSampler.next() does."""
        for i in torch.nonzero(self.cursor >= self.n).flatten().tolist():
            sampler = self.samplers[i]
            self.orders[i] = torch.randperm(sampler.n_samples, generator=sampler._generator)
            self.epochs_drawn[i] += 1
            self.cursor[i] = 0
            self._fill(i)

    def next(self) -> Batch:
        b = self.batch_size
        index = self.cursor.unsqueeze(1) + self._offsets
        if self._safe_steps > 0:
            self._safe_steps -= 1
            lengths, mask = self._full, None
        else:
            lengths, mask, index = self._near_an_epochs_end(index)
        self.cursor += lengths
        self.samples_seen += lengths
        block = self._flat.index_select(0, (self._row_starts + index).view(-1))
        block = block.view(len(self.samplers), b, -1)
        x, y = block[..., : self.n_features], block[..., self.n_features :]
        if self.class_ids:
            y = y.squeeze(2).long()
        return Batch(x, y, mask, lengths)

    def _near_an_epochs_end(
        self, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Start the runs' next epochs where one ended, and pad the batches cut short by an
        epoch's end; one sync, then none for as many steps as certainly need neither."""
        remaining = self.n - self.cursor
        fewest = int(remaining.min())
        if fewest <= 0:
            self._new_epochs()
            remaining = self.n - self.cursor
            fewest = int(remaining.min())
            index = self.cursor.unsqueeze(1) + self._offsets
        b = self.batch_size
        self._full = torch.full_like(self.cursor, b)
        if fewest >= b:
            self._safe_steps = fewest // b - 1
            return self._full, None, index
        lengths = remaining.clamp(max=b)
        # Padding repeats a real sample of the run (masked out of its loss).
        index = torch.minimum(index, (self.n - 1).unsqueeze(1))
        return lengths, self._offsets < lengths.unsqueeze(1), index

    def write_position(self, i: int) -> None:
        """Leave run i's sampler exactly where its eager next() calls would have left it."""
        sampler = self.samplers[i]
        sampler._order = self.orders[i]
        sampler._epochs_drawn = self.epochs_drawn[i]
        sampler._cursor = int(self.cursor[i])
        sampler.samples_seen = int(self.samples_seen[i])
