"""The optimizer's path: flat parameter vectors recorded during a run, bounded in memory."""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import NamedTuple

from torch import Tensor

# The path drawn on the loss surface. 400 points is more than a 300-pixel map can show apart,
# and bounds a session's memory to 400 × 1,425 floats (the largest allowed network) ≈ 2.3 MB.
MAX_TRAJECTORY_POINTS = 400


class TrajectoryPoint(NamedTuple):
    step: int
    params: Tensor  # flat, in the order of parameters_to_vector(model.parameters()); never mutated
    loss: float  # the training loss at these parameters (NaN when unknown)


class Trajectory:
    """One point per recorded step (in practice one per frame), thinned past `max_points`.

    Records are numbered 0, 1, 2, … and a record is kept when its number is a multiple of the
    stride; the stride doubles whenever the kept points would exceed `max_points`. The first
    point (the initial parameters) is record 0, so it always stays, and the newest record is
    kept as well until the next one arrives: the path keeps its shape, evenly spaced in
    recording order, and always ends at the current parameters.

    The run's history is read from the steps: a step at or below the newest (a reset, a
    rebuild, a rollback after divergence, a live setting at the same step) drops the
    points it undoes, and a new parameter count (another architecture) starts the path afresh.
    """

    def __init__(self, max_points: int = MAX_TRAJECTORY_POINTS) -> None:
        if max_points < 3:
            raise ValueError(f"a trajectory needs room for at least 3 points, got {max_points}")
        self.max_points = max_points
        self._points: list[TrajectoryPoint] = []
        self._numbers: list[int] = []  # each kept point's record number
        self._stride = 1

    def __len__(self) -> int:
        return len(self._points)

    def record(self, step: int, params: Tensor, loss: float = math.nan) -> None:
        """Add the parameters at `step` (a copy is kept, so the caller may go on training)."""
        point = TrajectoryPoint(step, params.detach().flatten().clone(), loss)
        points, numbers = self._points, self._numbers
        if points and points[-1].params.numel() != point.params.numel():
            points, numbers, self._stride = [], [], 1
        # Steps come in order while a run plays: only a rewound run needs the search.
        later = points and points[-1].step >= step
        keep = bisect_left([p.step for p in points], step) if later else len(points)
        points, numbers = points[:keep], numbers[:keep]
        if not points:
            self._stride = 1
        # The previous newest point was only kept for being the newest.
        if numbers and numbers[-1] % self._stride != 0:
            points, numbers = points[:-1], numbers[:-1]
        number = numbers[-1] + 1 if numbers else 0
        points, numbers = [*points, point], [*numbers, number]
        while len(points) > self.max_points:
            self._stride *= 2
            kept = [i for i, n in enumerate(numbers) if n % self._stride == 0]
            if kept[-1] != len(points) - 1:
                kept.append(len(points) - 1)
            points, numbers = [points[i] for i in kept], [numbers[i] for i in kept]
        # New lists, never an edit in place: a reader on another thread holds the old ones.
        self._points, self._numbers = points, numbers

    def points(self) -> list[TrajectoryPoint]:
        """The path so far, oldest first (a snapshot: later records don't change it)."""
        return self._points

    def clear(self) -> None:
        self._points, self._numbers, self._stride = [], [], 1
