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
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from app.training.batches import BatchSampler


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # [K, batch, features]
    y: torch.Tensor  # [K, batch, outputs] or [K, batch] class ids
    mask: torch.Tensor | None  # bool [K, batch]: real samples; None when every batch is full
    lengths: torch.Tensor  # float32 [K]: real samples per run


class StackedEpochs:
    def __init__(
        self,
        samplers: Sequence[BatchSampler],
        inputs: Sequence[torch.Tensor],
        targets: Sequence[torch.Tensor],
        batch_size: int,
        lanes: int,
    ) -> None:
        self.samplers = list(samplers)
        self.batch_size, self.lanes = batch_size, lanes
        self.n = torch.tensor([len(x) for x in inputs])
        # Each run's batch and data padded to whole `lanes` of samples (the group says why).
        n_max = _round_up(int(self.n.max()), lanes)
        k = len(samplers)
        self.n_features = inputs[0].shape[1]
        self.class_ids = targets[0].dim() == 1
        # Features and targets side by side, so one index_select gathers a step's batches
        # (class ids are small integers: exact as floats). `source` in the data's order,
        # `rows` in each run's epoch order.
        width = self.n_features + (1 if self.class_ids else targets[0].shape[1])
        self.source = torch.zeros(k, n_max, width)
        for i, (x, y) in enumerate(zip(inputs, targets, strict=True)):
            self.source[i, : len(x)] = torch.cat([x, y.view(len(x), -1).to(x.dtype)], dim=1)
        self.orders = [s._order for s in samplers]
        self.epochs_drawn = [s._epochs_drawn for s in samplers]
        self.cursor = torch.tensor([s._cursor for s in samplers])
        self.samples_seen = torch.tensor([s.samples_seen for s in samplers])
        self._lay_out(torch.zeros(k, n_max, width))
        self._fill(list(range(k)))

    @classmethod
    def combined(cls, parts: Sequence[tuple[StackedEpochs, Sequence[int]]]) -> StackedEpochs:
        """These runs (rows of other stacks, in order) as one stack, nothing read again."""
        first = parts[0][0]
        out = cls.__new__(cls)
        out.batch_size, out.lanes = first.batch_size, first.lanes
        out.n_features, out.class_ids = first.n_features, first.class_ids
        n_max = max(e.source.shape[1] for e, _ in parts)
        picked = []
        for epochs, taken in parts:
            epochs._settle()
            index = torch.tensor(list(taken), dtype=torch.long)
            pad = (0, 0, 0, n_max - epochs.source.shape[1])
            picked.append((epochs, taken, index, pad))
        out.samplers = [e.samplers[k] for e, taken, _, _ in picked for k in taken]
        out.orders = [e.orders[k] for e, taken, _, _ in picked for k in taken]
        out.epochs_drawn = [e.epochs_drawn[k] for e, taken, _, _ in picked for k in taken]
        out.n = torch.cat([e.n.index_select(0, i) for e, _, i, _ in picked])
        out.cursor = torch.cat([e.cursor.index_select(0, i) for e, _, i, _ in picked])
        out.samples_seen = torch.cat([e.samples_seen.index_select(0, i) for e, _, i, _ in picked])
        out.source = torch.cat([F.pad(e.source.index_select(0, i), p) for e, _, i, p in picked])
        out._lay_out(torch.cat([F.pad(e.rows.index_select(0, i), p) for e, _, i, p in picked]))
        return out

    def _lay_out(self, rows: torch.Tensor) -> None:
        """Everything that follows from the epochs' rows [K, n_max, width] and the batch."""
        k, n_max, width = rows.shape
        self.rows = rows
        self._flat = rows.view(k * n_max, width)
        self._row_starts = (torch.arange(k) * n_max).unsqueeze(1)
        self.width = _round_up(self.batch_size, self.lanes)
        self._positions = torch.arange(self.width)
        real = self._positions < self.batch_size
        # A padding position reads the batch's first sample (always a real one) and is masked.
        self._offsets = torch.where(real, self._positions, 0)
        self._full_mask = None if self.width == self.batch_size else real.expand(k, -1)
        # Steps that certainly end no epoch and fill every batch: no need to look until then.
        self._safe_steps = 0
        self._taken = 0
        self._stretch = self._row_starts.view(-1)
        self._full_sizes = torch.full((k,), float(self.batch_size))

    def _fill(self, runs: list[int]) -> None:
        """Lay out these runs' epochs in their new orders: one gather for all of them (runs
        that started together end their epochs together)."""
        n_max = self.rows.shape[1]
        orders = pad_sequence([self.orders[i] for i in runs], batch_first=True)
        if orders.shape[1] < n_max:
            orders = torch.nn.functional.pad(orders, (0, n_max - orders.shape[1]))
        chosen = torch.tensor(runs)
        index = orders.unsqueeze(2).expand(-1, -1, self.rows.shape[2])
        self.rows[chosen] = torch.gather(self.source[chosen], 1, index)

    def _new_epochs(self) -> None:
        """Runs at the end of an epoch draw the next, as BatchSampler.next() does."""
        ended = torch.nonzero(self.cursor >= self.n).flatten().tolist()
        for i in ended:
            sampler = self.samplers[i]
            self.orders[i] = torch.randperm(sampler.n_samples, generator=sampler._generator)
            self.epochs_drawn[i] += 1
        self.cursor[ended] = 0
        self._fill(ended)

    def next(self) -> Batch:
        if self._safe_steps == 0:
            cut_short = self._look_ahead()
            if cut_short is not None:
                return cut_short
        # Within a stretch of full batches every cursor moves by one batch a step: the
        # indices are the stretch's first plus an offset, the cursors are settled after.
        self._safe_steps -= 1
        flat = self._stretch + self._taken * self.batch_size if self._taken else self._stretch
        self._taken += 1
        return self._gather(flat, self._full_mask, self._full_sizes)

    def _look_ahead(self) -> Batch | None:
        """Start the runs' next epochs where one ended; then either a batch cut short by an
        epoch's end (padded, masked) or None and a stretch of steps that need no look."""
        self._settle()
        remaining = self.n - self.cursor
        fewest = int(remaining.min())
        if fewest <= 0:
            self._new_epochs()
            remaining = self.n - self.cursor
            fewest = int(remaining.min())
        b = self.batch_size
        index = self.cursor.unsqueeze(1) + self._offsets
        if fewest >= b:
            self._safe_steps = fewest // b
            self._stretch = (self._row_starts + index).view(-1)
            return None
        lengths = remaining.clamp(max=b)
        # Padding repeats a real sample of the run (masked out of its loss).
        index = torch.minimum(index, (self.n - 1).unsqueeze(1))
        self.cursor += lengths
        self.samples_seen += lengths
        mask = self._positions < lengths.unsqueeze(1)
        return self._gather((self._row_starts + index).view(-1), mask, lengths.float())

    def _settle(self) -> None:
        """Add the stretch's steps taken so far to the cursors (the rest of it goes on from
        there)."""
        if self._taken:
            moved = self._taken * self.batch_size
            self.cursor += moved
            self.samples_seen += moved
            self._stretch = self._stretch + moved
            self._taken = 0

    def _gather(self, flat: torch.Tensor, mask: torch.Tensor | None, sizes: torch.Tensor) -> Batch:
        block = self._flat.index_select(0, flat).view(len(self.samplers), self.width, -1)
        x, y = block[..., : self.n_features], block[..., self.n_features :]
        if self.class_ids:
            y = y.squeeze(2).long()
        return Batch(x, y, mask, sizes)

    def read_position(self, i: int) -> None:
        """write_position's inverse: take run i's sampler position after it drew batches on
        its own (next() calls), with its new epoch's order if it began one."""
        self._settle()
        sampler = self.samplers[i]
        if sampler._order is not self.orders[i]:
            self.orders[i] = sampler._order
            self._fill([i])
        self.epochs_drawn[i] = sampler._epochs_drawn
        self.cursor[i] = sampler._cursor
        self.samples_seen[i] = sampler.samples_seen
        self._safe_steps = 0  # the cursors moved apart: the next batch looks ahead again

    def write_position(self, i: int) -> None:
        """Leave run i's sampler exactly where its eager next() calls would have left it."""
        self._settle()
        sampler = self.samplers[i]
        sampler._order = self.orders[i]
        sampler._epochs_drawn = self.epochs_drawn[i]
        sampler._cursor = int(self.cursor[i])
        sampler.samples_seen = int(self.samples_seen[i])


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple
