"""Mini-batches drawn epoch by epoch from a seeded permutation, so a run can be replayed exactly."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplerPosition:
    """Where a sampler is: enough to put a fresh one with the same seed in the same place."""

    epochs_drawn: int
    cursor: int
    samples_seen: int
    batch_size: int


def batch_seed(data_seed: int, model_seed: int) -> int:
    """The batch order's seed: both seeds matter, so the same settings give the same run."""
    return data_seed * 1_000_003 + model_seed


class BatchSampler:
    """Yields index tensors of `batch_size`; a new shuffled epoch starts when one runs out."""

    def __init__(self, n_samples: int, batch_size: int, seed: int) -> None:
        self.n_samples = n_samples
        self.batch_size = min(batch_size, n_samples)
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.randperm(n_samples, generator=self._generator)
        self._epochs_drawn = 1
        self._cursor = 0
        self.samples_seen = 0
        # The epoch's points in its shuffled order, so a batch is a slice (a view) rather than
        # a gather on every step; rebuilt when the epoch or the data change.
        self._shuffled: (
            tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None
        ) = None

    def position(self) -> SamplerPosition:
        return SamplerPosition(self._epochs_drawn, self._cursor, self.samples_seen, self.batch_size)

    def seek(self, position: SamplerPosition) -> None:
        """Back (or on) to `position`: the epochs' permutations are redrawn from the seed, so the
        batches that follow are exactly those that followed there (a few µs per epoch)."""
        self._generator = torch.Generator().manual_seed(self.seed)
        for _ in range(position.epochs_drawn):
            self._order = torch.randperm(self.n_samples, generator=self._generator)
        self._epochs_drawn = position.epochs_drawn
        self._cursor = position.cursor
        self.samples_seen = position.samples_seen
        self.set_batch_size(position.batch_size)

    def set_batch_size(self, batch_size: int) -> None:
        self.batch_size = min(batch_size, self.n_samples)

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.n_samples

    def next(self) -> torch.Tensor:
        if self._cursor >= self.n_samples:
            self._order = torch.randperm(self.n_samples, generator=self._generator)
            self._epochs_drawn += 1
            self._cursor = 0
        # A batch never straddles two epochs: the last one of an epoch may be smaller.
        indices = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += len(indices)
        self.samples_seen += len(indices)
        return indices

    def next_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch's rows of `x` and `y`: exactly `x[self.next()]`, without the gather."""
        indices = self.next()
        cached = self._shuffled
        if (
            cached is None
            or cached[0] is not self._order
            or cached[1] is not x
            or cached[2] is not y
        ):
            cached = self._shuffled = (self._order, x, y, x[self._order], y[self._order])
        start = self._cursor - len(indices)
        return cached[3][start : self._cursor], cached[4][start : self._cursor]
