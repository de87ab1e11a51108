"""A block's slots updated side by side: the same bits as slot by slot, and only when the
slots agree on every count and flag."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from app.training.stacked import RunGroup
from tests.unit.stacked_oracle import step_eagerly_and_compare, twins

EVERY_RULE: list[dict[str, Any]] = [
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
    {"optimizer": "sgd", "weight_decay": 0.01},
    {"optimizer": "adam", "learning_rate": 0.01},
    {"optimizer": "adamw", "weight_decay": 0.1, "learning_rate": 0.02},
    {"optimizer": "rmsprop", "momentum": 0.5, "weight_decay": 0.01},
    {"optimizer": "adagrad"},
]


def slot_by_slot(group: RunGroup) -> None:
    """The group's blocks as they were before: each slot updated on its own."""
    group.blocks = [dataclasses.replace(b, side_by_side=None) for b in group.blocks]


def test_every_rule_but_plain_sgd_goes_side_by_side() -> None:
    grouped, _ = twins([*EVERY_RULE, {"optimizer": "sgd"}], warm_up=0)
    group = RunGroup(grouped)
    together = {b.kind: b.side_by_side is not None for b in group.blocks}
    # Plain SGD and SGD with momentum share the "sgd" block, which is then not plain.
    assert together == {k: True for k in ("sgd", "adam", "adamw", "rmsprop", "adagrad")}


def test_side_by_side_is_bit_identical_to_slot_by_slot() -> None:
    fast, _ = twins(EVERY_RULE)
    slow, _ = twins(EVERY_RULE)
    group_fast, group_slow = RunGroup(fast), RunGroup(slow)
    slot_by_slot(group_slow)
    assert all(b.side_by_side is not None for b in group_fast.blocks)
    for _ in range(5):
        group_fast.train_steps(8)
        group_slow.train_steps(8)
        slot_by_slot(group_slow)  # blocks are rebuilt only on changes; keep it honest anyway
    for a, b in zip(group_fast.network.tensors, group_slow.network.tensors, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(group_fast.states, group_slow.states, strict=True):
        assert torch.equal(a.step, b.step)
        for name in a.tensors:
            assert torch.equal(a.tensors[name], b.tensors[name])
            assert torch.equal(a.present[name], b.present[name])


def test_side_by_side_steps_equal_the_eager_steps() -> None:
    grouped, eager = twins(EVERY_RULE)
    group = RunGroup(grouped)
    group.train_steps(6)
    step_eagerly_and_compare(group, grouped, eager, 6, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad"])
def test_a_layer_frozen_for_a_while_keeps_the_block_slot_by_slot(optimizer: str) -> None:
    grouped, eager = twins([{"optimizer": optimizer}] * 2, warm_up=0)
    for s in (grouped[0], eager[0]):
        s.set_frozen_layers([1])
    for s in grouped + eager:
        s.train_step()
    for s in (grouped[0], eager[0]):
        s.set_frozen_layers([])
    # Unfrozen, the layer's step count lags the others': one flat step would be wrong.
    group = RunGroup(grouped)
    assert all(b.side_by_side is None for b in group.blocks)
    group.train_steps(3)
    step_eagerly_and_compare(group, grouped, eager, 3)
