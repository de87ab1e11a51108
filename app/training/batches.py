"""Mini-batches drawn epoch by epoch from a seeded permutation, so a run can be replayed exactly."""

from __future__ import annotations

import torch


class BatchSampler:
    """Yields index tensors of `batch_size`; a new shuffled epoch starts when one runs out."""

    def __init__(self, n_samples: int, batch_size: int, seed: int) -> None:
        self.n_samples = n_samples
        self.batch_size = min(batch_size, n_samples)
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.randperm(n_samples, generator=self._generator)
        self._cursor = 0
        self.samples_seen = 0

    def set_batch_size(self, batch_size: int) -> None:
        self.batch_size = min(batch_size, self.n_samples)

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.n_samples

    def next(self) -> torch.Tensor:
        if self._cursor >= self.n_samples:
            self._order = torch.randperm(self.n_samples, generator=self._generator)
            self._cursor = 0
        # A batch never straddles two epochs: the last one of an epoch may be smaller.
        indices = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += len(indices)
        self.samples_seen += len(indices)
        return indices
