"""Datasets: Playground's shapes, seeded, split as asked."""

from __future__ import annotations

import pytest
import torch

from app.training.datasets import GENERATORS, make_dataset, task_of


@pytest.mark.parametrize("name", sorted(n for n in GENERATORS if task_of(n) == "binary"))
def test_every_binary_dataset_is_seeded_split_and_labelled_zero_or_one(name: str) -> None:
    a = make_dataset(name, 300, 0.2, 0.3, seed=5)
    b = make_dataset(name, 300, 0.2, 0.3, seed=5)
    assert torch.equal(a.train_x, b.train_x)
    assert len(a.train_x) == 90 and len(a.test_x) == 210
    labels = torch.cat([a.train_y, a.test_y]).unique().tolist()
    assert set(labels) <= {0.0, 1.0}
    assert a.train_x.abs().max() <= 6.0


def test_circle_without_noise_is_blue_inside_orange_outside() -> None:
    d = make_dataset("circle", 400, 0.0, 0.5, seed=1)
    x = torch.cat([d.train_x, d.test_x])
    y = torch.cat([d.train_y, d.test_y]).squeeze(1)
    radius = x.norm(dim=1)
    assert (radius[y == 1] < 2.5 + 1e-5).all()
    assert (radius[y == 0] > 3.5 - 1e-5).all()


def test_xor_labels_follow_the_quadrant_sign_without_noise() -> None:
    d = make_dataset("xor", 200, 0.0, 0.5, seed=2)
    product = d.train_x[:, 0] * d.train_x[:, 1]
    assert torch.equal((product >= 0).float(), d.train_y.squeeze(1))


def test_different_seeds_give_different_points() -> None:
    assert not torch.equal(
        make_dataset("spiral", 100, 0.1, 0.5, 1).train_x,
        make_dataset("spiral", 100, 0.1, 0.5, 2).train_x,
    )
