"""Points drawn by hand: added to the training set, or removed where the user clicked one."""

from __future__ import annotations

from dataclasses import replace

import torch

from app import limits
from app.training.csv_data import point_problem
from app.training.datasets import Dataset
from app.training.task import TASKS

# A point given back by the page is one the server sent as float32: a match is exact, but a
# little slack costs nothing (no two points of a data set are this close by chance).
SAME_POINT_DISTANCE = 1e-4


class PointEditError(ValueError):
    """The edit cannot be applied; nothing was changed."""


def _targets(data: Dataset, labels: list[float]) -> torch.Tensor:
    """Labels shaped as the task's loss wants them (see Dataset)."""
    return TASKS[data.task].targets(torch.tensor(labels, dtype=torch.float32))


def _without(
    x: torch.Tensor, y: torch.Tensor, at: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """x and y without the first point at `at`, and whether there was one."""
    if len(x) == 0:
        return x, y, False
    distance = (x - torch.tensor(at, dtype=x.dtype)).abs().max(dim=1).values
    hits = torch.nonzero(distance <= SAME_POINT_DISTANCE).flatten()
    if len(hits) == 0:
        return x, y, False
    keep = torch.ones(len(x), dtype=torch.bool)
    keep[hits[0]] = False
    return x[keep], y[keep], True


def edit_points(
    data: Dataset,
    add: list[tuple[float, float, float]],
    remove: list[tuple[float, float]],
    max_points: int = limits.MAX_POINTS,
) -> Dataset:
    """`data` with the points at `remove` gone (train or test; unknown ones are skipped, as
    another page may have removed them first) and `add` (x1, x2, label) appended to training."""
    for x1, x2, label in add:
        problem = point_problem(data.task, x1, x2, label)
        if problem:
            raise PointEditError(problem)
    train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
    for at in remove:
        train_x, train_y, found = _without(train_x, train_y, at)
        if not found:
            test_x, test_y, _ = _without(test_x, test_y, at)
    if add:
        train_x = torch.cat([train_x, torch.tensor([(a, b) for a, b, _ in add])])
        train_y = torch.cat([train_y, _targets(data, [c for _, _, c in add])])
    if len(train_x) == 0:
        raise PointEditError("at least one training point must stay")
    if len(train_x) + len(test_x) > max_points:
        raise PointEditError(f"at most {max_points} points in all")
    return replace(data, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
