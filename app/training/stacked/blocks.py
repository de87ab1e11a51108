"""A group's runs by optimizer: the forward and backward are the network's, one for the whole
group; only the update rule is the optimizer's, so each optimizer updates its own block of
rows. A class spread over a few networks and every optimizer then trains as a few groups, not
one per network and optimizer (a stacked step costs about the same whatever the group's size).

The members of each optimizer sit in one contiguous block of rows, so a block's parameters,
gradients, state and settings are views (`t[a:b]`) that the rules update in place: no gather
or scatter, and a group of one optimizer is one block of every row, stepped as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch

from app.training.stacked.settings import RunSettings, derived, rows
from app.training.stacked.side_by_side import SideBySide, can_go_side_by_side
from app.training.stacked.updates import SlotState, StepInputs

# The order of the blocks in a group (any fixed order keeps each block contiguous).
KINDS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


def kind_rank(kind: str) -> int:
    return KINDS.index(kind)


@dataclass(frozen=True)
class Block:
    """The members of one optimizer: rows `rows` of every group tensor."""

    kind: str
    rows: slice
    settings: RunSettings
    states: list[SlotState]  # one per parameter slot, views of the group's state rows
    has_grad: list[torch.Tensor]
    all_rows: list[bool]
    # Plain SGD on every row of the block (the default run): one foreach update.
    plain_sgd: bool
    # Every slot updated at once (side_by_side.py), when they agree on every count and flag.
    side_by_side: SideBySide | None = None

    def inputs(
        self, lr: torch.Tensor, lr32: torch.Tensor, tensors: Sequence[torch.Tensor]
    ) -> list[StepInputs]:
        """What the rule reads for each slot; `lr`, `lr32`: every group row's rate."""
        r = self.rows
        return [
            StepInputs(self.settings, lr[r], rows(lr32[r], t), mask, whole)
            for t, mask, whole in zip(tensors, self.has_grad, self.all_rows, strict=True)
        ]


def blocks(
    kinds: Sequence[str],
    settings: RunSettings,
    states: Sequence[SlotState],
    has_grad: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
) -> list[Block]:
    """The blocks of a group whose member k uses optimizer `kinds[k]` (kinds contiguous);
    `params`: the group's parameter tensors, one per slot."""
    out: list[Block] = []
    start = 0
    while start < len(kinds):
        end = start
        while end < len(kinds) and kinds[end] == kinds[start]:
            end += 1
        out.append(_block(kinds[start], slice(start, end), settings, states, has_grad, params))
        start = end
    return out


def with_block_of(
    old: Sequence[Block],
    k: int,
    settings: RunSettings,
    states: Sequence[SlotState],
    has_grad: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
) -> list[Block]:
    """`old` with the block of row k read again: one learner's knob changed, and a class's
    changes come every few milliseconds (rebuilding every block was most of a change's cost)."""
    out = list(old)
    for i, b in enumerate(old):
        if b.rows.start <= k < b.rows.stop:
            out[i] = _block(b.kind, b.rows, settings, states, has_grad, params)
            return out
    raise ValueError(f"no block holds row {k}")


def _block(
    kind: str,
    r: slice,
    settings: RunSettings,
    states: Sequence[SlotState],
    has_grad: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
) -> Block:
    block_settings = _sliced_settings(settings, r)
    masks = [mask[r] for mask in has_grad]
    whole = [bool(mask.all()) for mask in masks]
    block_states = [_sliced_state(s, r) for s in states]
    plain_sgd = (
        kind == "sgd"
        and not (block_settings.any_momentum or block_settings.any_weight_decay)
        and all(whole)
    )
    together = not plain_sgd and can_go_side_by_side(block_states, whole)
    return Block(
        kind=kind,
        rows=r,
        settings=block_settings,
        states=block_states,
        has_grad=masks,
        all_rows=whole,
        plain_sgd=plain_sgd,
        side_by_side=SideBySide([t[r] for t in params], block_states) if together else None,
    )


def _sliced_settings(settings: RunSettings, r: slice) -> RunSettings:
    columns = {
        f.name: getattr(settings, f.name)[r]
        for f in fields(RunSettings)
        if isinstance(getattr(settings, f.name), torch.Tensor)
    }
    return derived(replace(settings, **columns))


def _sliced_state(state: SlotState, r: slice) -> SlotState:
    """Views: the rules' in-place updates land in the group's rows."""
    started = state.started[r]
    return SlotState(
        tensors={name: t[r] for name, t in state.tensors.items()},
        step=state.step[r],
        present={name: t[r] for name, t in state.present.items()},
        started=started,
        all_started=bool(started.all()),
    )
