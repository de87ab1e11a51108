"""Points from a CSV file (x1,x2,label), checked line by line as any point is (point_problem).

A file is untrusted input: every problem is reported with its line number and nothing is
partly applied, so a bad file leaves the current data as they were.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from app import limits
from app.training.datasets import INPUT_EXTENT, Dataset, split_dataset
from app.training.task import TASKS, TaskName

COLUMNS = ("x1", "x2", "label")
# One point to train on and one to test on.
MIN_CSV_POINTS = 2


class CsvDataError(ValueError):
    """The file cannot be used as points; the message says where and why."""


def coordinate_problem(name: str, value: float) -> str | None:
    if not math.isfinite(value):
        return f"{name} = {value} is not a finite number"
    if abs(value) > INPUT_EXTENT:
        return f"{name} = {value:g} lies outside the plane [−{INPUT_EXTENT:g}, {INPUT_EXTENT:g}]"
    return None


def point_problem(task: TaskName, x1: float, x2: float, label: float) -> str | None:
    """Why (x1, x2, label) is not a point of `task`, or None: uploaded, drawn or from a file."""
    return (
        coordinate_problem("x1", x1)
        or coordinate_problem("x2", x2)
        or TASKS[task].label_problem(label)
    )


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _point(row: list[str], line: int, task: TaskName) -> tuple[float, float, float]:
    """x1, x2 and the label of one line, checked as any point is."""
    if len(row) != len(COLUMNS):
        raise CsvDataError(f"line {line}: {len(row)} columns; expected 3 ({','.join(COLUMNS)})")
    values: list[float] = []
    for name, cell in zip(COLUMNS, row, strict=True):
        value = _number(cell)
        if value is None:
            raise CsvDataError(f"line {line}: {name} {cell.strip()!r} is not a number")
        values.append(value)
    x1, x2, label = values
    problem = point_problem(task, x1, x2, label)
    if problem:
        raise CsvDataError(f"line {line}: {problem}")
    return x1, x2, label


def _is_header(row: list[str]) -> bool:
    return [cell.strip().lower() for cell in row] == list(COLUMNS)


def parse_points_csv(
    raw: bytes,
    task: TaskName,
    max_points: int = limits.MAX_POINTS,
    max_bytes: int = limits.MAX_CSV_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 2) and labels (n,) from `raw`; a first line `x1,x2,label` is a header."""
    if len(raw) > max_bytes:
        raise CsvDataError(f"the file is {len(raw)} bytes; at most {max_bytes} are accepted")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvDataError(f"not UTF-8 text (byte {error.start} cannot be read)") from None
    points: list[tuple[float, float]] = []
    labels: list[float] = []
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if line == 1 and _is_header(row):
                continue
            if len(points) == max_points:
                raise CsvDataError(f"line {line}: more than {max_points} points (the limit)")
            x1, x2, label = _point(row, line, task)
            points.append((x1, x2))
            labels.append(label)
    except csv.Error as error:
        raise CsvDataError(f"line {reader.line_num}: not CSV ({error})") from None
    if len(points) < MIN_CSV_POINTS:
        raise CsvDataError(
            f"the file holds {len(points)} points; at least {MIN_CSV_POINTS} are needed "
            "(one to train on, one to test on)"
        )
    return np.array(points, dtype=np.float32), np.array(labels, dtype=np.float32)


def dataset_from_csv(
    raw: bytes,
    task: TaskName,
    train_fraction: float,
    seed: int,
    max_points: int = limits.MAX_POINTS,
) -> Dataset:
    """The file's points, shuffled with `seed`, split by `train_fraction` (as make_dataset)."""
    points, labels = parse_points_csv(raw, task, max_points)
    order = np.random.default_rng(seed).permutation(len(points))
    return split_dataset(points[order], labels[order], train_fraction, task)
