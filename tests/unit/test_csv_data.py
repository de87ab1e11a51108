"""CSV points: a good file becomes a split data set; a bad one names its line and why."""

from __future__ import annotations

import numpy as np
import pytest

from app.training.csv_data import CsvDataError, dataset_from_csv, parse_points_csv
from app.training.datasets import make_dataset

GOOD = b"x1,x2,label\n1,2,0\n-1.5,0.5,1\n3,-4,1\n"


def test_a_file_with_a_header_gives_its_points_and_labels() -> None:
    points, labels = parse_points_csv(GOOD, "binary")
    assert points.tolist() == [[1, 2], [-1.5, 0.5], [3, -4]]
    assert labels.tolist() == [0, 1, 1]


def test_the_header_is_optional_and_blank_lines_and_a_bom_are_fine() -> None:
    points, _ = parse_points_csv(b"\xef\xbb\xbf1,2,0\n\n -1.5 , 0.5 ,1\n", "binary")
    assert points.tolist() == [[1, 2], [-1.5, 0.5]]


@pytest.mark.parametrize(
    ("raw", "task", "message"),
    [
        (b"x1,x2,label\n1,2,0\n1,2\n", "binary", "line 3: 2 columns; expected 3"),
        (b"1,2,0\n1,abc,1\n", "binary", "line 2: x2 'abc' is not a number"),
        (b"1,2,0\nnan,1,1\n", "binary", "line 2: x1 = nan is not a finite number"),
        (b"1,2,0\n1,2,inf\n", "regression", "line 2: the label inf is not a finite number"),
        (b"1,2,0\n1,2,2\n", "binary", "line 2: the label 2 is not 0 or 1"),
        (b"1,2,0\n1,2,0.5\n", "multiclass", "line 2: the label 0.5 is not a class id 0–2"),
        (b"1,2,0\n1,2,3\n", "multiclass", "line 2: the label 3 is not a class id 0–2"),
        (b"1,2,0\n9,2,1\n", "binary", "line 2: x1 = 9 lies outside the plane"),
        (b"1,2,0\n", "binary", "holds 1 points; at least 2"),
        (b"\xff\xfe1,2,0", "binary", "not UTF-8"),
        (b"", "binary", "holds 0 points"),
    ],
)
def test_a_bad_file_says_which_line_is_wrong_and_why(raw: bytes, task: str, message: str) -> None:
    with pytest.raises(CsvDataError, match=message):
        parse_points_csv(raw, task)  # type: ignore[arg-type]


def test_any_finite_label_is_a_regression_target_and_class_ids_a_multiclass_one() -> None:
    assert parse_points_csv(b"1,2,-3.25\n0,0,7e2\n", "regression")[1].tolist() == [-3.25, 700]
    assert parse_points_csv(b"1,2,0\n0,0,2\n", "multiclass")[1].tolist() == [0, 2]


def test_more_rows_than_the_limit_and_more_bytes_than_the_limit_are_refused() -> None:
    rows = b"".join(b"0,0,1\n" for _ in range(11))
    with pytest.raises(CsvDataError, match="line 11: more than 10 points"):
        parse_points_csv(rows, "binary", max_points=10)
    with pytest.raises(CsvDataError, match="at most 50 are accepted"):
        parse_points_csv(rows, "binary", max_bytes=50)


def test_the_points_are_split_by_the_ratio_and_shuffled_by_the_seed_like_a_dataset() -> None:
    # Eighths are exact in float32, so the points compare exactly.
    rows = "\n".join(f"{i / 8},{-i / 8},{i % 2}" for i in range(40)).encode()
    data = dataset_from_csv(rows, "binary", train_fraction=0.7, seed=3)
    assert (len(data.train_x), len(data.test_x)) == (28, 12)
    again = dataset_from_csv(rows, "binary", train_fraction=0.7, seed=3)
    assert np.array_equal(data.train_x.numpy(), again.train_x.numpy())
    assert data.train_y.shape == (28, 1)
    # Every point is kept once, with its own label.
    every = np.concatenate([data.train_x.numpy(), data.test_x.numpy()])
    labels = np.concatenate([data.train_y.numpy().ravel(), data.test_y.numpy().ravel()])
    assert sorted(map(tuple, every.tolist())) == [(i / 8, -i / 8) for i in range(40)]
    assert all(label == round(x * 8) % 2 for (x, _), label in zip(every, labels, strict=True))


def test_multiclass_labels_become_class_indices_for_cross_entropy() -> None:
    data = dataset_from_csv(b"0,0,0\n1,1,1\n2,2,2\n3,3,0\n", "multiclass", 0.5, 0)
    assert data.train_y.dtype.is_floating_point is False
    assert data.n_outputs == make_dataset("blobs", 30, 0, 0.5, 0).n_outputs == 3
