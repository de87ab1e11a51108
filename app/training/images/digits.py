"""The 8×8 handwritten digits that ship inside scikit-learn, read from its data file.

scikit-learn's own `load_digits` imports the library and scipy (seconds, ~100 MB of memory);
the 1,797 images are one small CSV in the package, so they are read from there and nothing
of scikit-learn is imported. Nothing is downloaded: the file is part of the installed wheel.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

SIDE = 8
N_CLASSES = 10
# Pixel values in the file are ink counts 0–16 (4×4 blocks of a 32×32 bitmap).
MAX_INK = 16.0


class DigitsUnavailable(RuntimeError):
    """scikit-learn (which holds the data file) is not installed."""


def digits_file() -> Path:
    """Where the installed scikit-learn keeps digits.csv.gz (found without importing it)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DigitsUnavailable("the digits need scikit-learn installed (pip install scikit-learn)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DigitsUnavailable(f"scikit-learn has no digits file at {path}")
    return path


@lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(digits_file(), "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float32)
    images = (table[:, :-1] / MAX_INK).reshape(-1, 1, SIDE, SIDE)
    labels = table[:, -1].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@dataclass(frozen=True)
class ImageDataset:
    """Images (n, 1, 8, 8) in [0, 1] and class ids (n,), split train/test.

    `train_index`/`test_index` say which of the 1,797 each image is, so a view can name it.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_index: np.ndarray
    test_index: np.ndarray

    @property
    def n_classes(self) -> int:
        return N_CLASSES


def load_digits(train_fraction: float, seed: int) -> ImageDataset:
    """All 1,797 digits, shuffled with `seed` and split as the 2-D datasets are: the first
    `train_fraction` trains (datasets.make_dataset's rule)."""
    images, labels = _all_digits()
    order = np.random.default_rng(seed).permutation(len(images))
    n_train = max(1, min(len(images) - 1, round(len(images) * train_fraction)))
    x = torch.from_numpy(images[order].copy())
    y = torch.from_numpy(labels[order].copy())
    return ImageDataset(
        x[:n_train], y[:n_train], x[n_train:], y[n_train:], order[:n_train], order[n_train:]
    )
