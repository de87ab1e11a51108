"""A group's pictures and scores for its members' frames, from one stacked forward each.

A frame shows the decision boundary, every neuron's map over the plane and the losses on all
points. Read member by member these cost three small forwards each, ~0.5 ms of a ~1.5 ms frame
at the defaults (profiled with 20 learners); for a group of K the same forwards over [K, …]
cost about one member's. Values equal the member's own readouts (Readouts.predict_grid,
neuron_grids, class_grids; Evaluator.evaluate) to float rounding: tests compare them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from app.training.evaluation import Evaluation
from app.training.readouts import input_grid
from app.training.stacked.group import RunGroup
from app.training.stacked.network import StackedNetwork
from app.training.stacked.objective import data_losses
from app.training.trainer import TrainingSession


@dataclass(frozen=True)
class Pictures:
    """What a member's frame shows of its network at `step`."""

    step: int
    evaluation: Evaluation
    boundary: np.ndarray  # (res, res), as Readouts.predict_grid
    class_grids: np.ndarray | None  # (classes, res, res) for multi-class, as class_grids
    neuron_grids: list[np.ndarray]  # [layer] → (neurons, res, res), as neuron_grids
    flat_params: torch.Tensor  # the linear parameters as one vector, as directions.flat_params


@dataclass(frozen=True)
class PointStack:
    """Every member's points (features computed), padded to the longest and masked."""

    x_t: torch.Tensor  # [K, features, n_max]: transposed, for StackedNetwork.forward_points
    y: torch.Tensor  # [K, n_max, outputs], or [K, n_max] class ids
    mask: torch.Tensor  # bool [K, n_max]
    lengths: torch.Tensor  # float32 [K]

    def rows(self, index: torch.Tensor) -> PointStack:
        """Only these runs' points."""
        return PointStack(
            self.x_t.index_select(0, index),
            self.y.index_select(0, index),
            self.mask.index_select(0, index),
            self.lengths.index_select(0, index),
        )


def stack_points(xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> PointStack:
    k, n_max = len(xs), max(1, max(len(x) for x in xs))
    x = torch.zeros(k, n_max, xs[0].shape[1])
    y = torch.zeros((k, n_max, *ys[0].shape[1:]), dtype=ys[0].dtype)
    mask = torch.zeros(k, n_max, dtype=torch.bool)
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        x[i, : len(xi)], y[i, : len(yi)], mask[i, : len(xi)] = xi, yi, True
    lengths = torch.tensor([float(len(x)) for x in xs])
    return PointStack(x.transpose(1, 2).contiguous(), y, mask, lengths)


class GroupPainter:
    """Paints a group's members; keeps their points stacked while their data stay."""

    def __init__(self) -> None:
        self._points: dict[tuple[int, ...], tuple[PointStack, PointStack]] = {}

    @torch.no_grad()
    def paint(
        self,
        group: RunGroup,
        boundary_resolution: int,
        neuron_resolution: int,
        rows: Sequence[int] | None = None,
    ) -> list[Pictures]:
        """Every member's pictures at its current step, in the order of group.members; or
        only those of the members at `rows`, in that order (their cost is their share)."""
        index = None if rows is None else torch.tensor(list(rows), dtype=torch.long)
        network = group.network
        members = group.members
        steps = group.step_count
        train, test = self._stacks(members)
        if index is not None:
            network = network.with_tensors(
                [t.detach().index_select(0, index) for t in network.tensors]
            )
            members = [members[k] for k in index.tolist()]
            steps = steps.index_select(0, index)
            train, test = train.rows(index), test.rows(index)
        first = members[0]
        outputs = _grid_outputs(network, len(members), first, boundary_resolution)
        boundary, class_grids = _boundaries(first, outputs[-1], boundary_resolution)
        if neuron_resolution != boundary_resolution:
            outputs = _grid_outputs(network, len(members), first, neuron_resolution)
        neuron_grids = _neuron_grids(first, outputs, neuron_resolution)
        evaluations = _evaluations(network, members, group.shape.loss, train, test)
        flat = network.flat_linear()
        return [
            Pictures(
                step=int(steps[k]),
                evaluation=evaluations[k],
                boundary=boundary[k],
                class_grids=None if class_grids is None else class_grids[k],
                neuron_grids=[layer[k] for layer in neuron_grids],
                flat_params=flat[k],
            )
            for k in range(len(members))
        ]

    def _stacks(self, members: Sequence[TrainingSession]) -> tuple[PointStack, PointStack]:
        key = tuple(id(m.data) for m in members)
        stacks = self._points.get(key)
        if stacks is None:
            # Only the latest membership is worth keeping: a group's members change rarely.
            self._points.clear()
            features = [m.model.features for m in members]
            stacks = self._points[key] = (
                stack_points(
                    [f(m.data.train_x) for f, m in zip(features, members, strict=True)],
                    [m.data.train_y for m in members],
                ),
                stack_points(
                    [f(m.data.test_x) for f, m in zip(features, members, strict=True)],
                    [m.data.test_y for m in members],
                ),
            )
        return stacks


def _grid_outputs(
    network: StackedNetwork, k: int, first: TrainingSession, resolution: int
) -> list[torch.Tensor]:
    """Every layer's activations over the plane's grid, [K, units, res²], as the runs'
    forward_all gives them (the features are the group's, so one grid serves all)."""
    grid = input_grid(resolution)
    features = first.model.features
    x = grid if features.is_identity else features(grid)
    return network.forward_points(x.T.unsqueeze(0).expand(k, -1, -1).contiguous())


def _squashed(first: TrainingSession, logits: torch.Tensor) -> torch.Tensor:
    """The task's output activation over [K, outputs, n]: softmax over the outputs."""
    if first.task.output_activation == "softmax":
        return torch.softmax(logits, dim=1)
    return first.squash(logits)


def _boundaries(
    first: TrainingSession, logits: torch.Tensor, res: int
) -> tuple[np.ndarray, np.ndarray | None]:
    out = _squashed(first, logits)
    k = out.shape[0]
    if first.task.n_outputs > 1:
        classes = out.reshape(k, -1, res, res).numpy()
        return out.max(dim=1).values.reshape(k, res, res).numpy(), classes
    return out.reshape(k, res, res).numpy(), None


def _neuron_grids(
    first: TrainingSession, outputs: list[torch.Tensor], res: int
) -> list[np.ndarray]:
    *hidden, logits = outputs
    layers = [*hidden, _squashed(first, logits)]
    return [o.reshape(o.shape[0], -1, res, res).numpy() for o in layers]


def _evaluations(
    network: StackedNetwork,
    members: Sequence[TrainingSession],
    loss: str,
    train: PointStack,
    test: PointStack,
) -> list[Evaluation]:
    """Evaluator.evaluate() of every member: data losses and accuracies on all its points,
    and the regulariser's share, which only members with a penalty pay for."""
    *hidden, train_logits = network.forward_points(train.x_t)
    train_out = train_logits.transpose(1, 2)
    test_out = network.forward_points(test.x_t)[-1].transpose(1, 2)
    train_loss = data_losses(loss, train_out, train.y, train.mask, train.lengths).tolist()
    test_loss = data_losses(loss, test_out, test.y, test.mask, test.lengths).tolist()
    train_acc = _accuracies(members[0], train_out, train).tolist()
    test_acc = _accuracies(members[0], test_out, test).tolist()
    evaluations = []
    for k, member in enumerate(members):
        n = int(train.lengths[k])
        hidden_k = [h[k, :, :n].T for h in hidden] if _has_penalty(member) else None
        penalty = 0.0 if hidden_k is None else member.train_penalty(hidden_k)
        evaluations.append(
            Evaluation(
                _nan_if_empty(train_loss[k], n),
                _nan_if_empty(test_loss[k], int(test.lengths[k])),
                _nan_if_empty(train_acc[k], n),
                _nan_if_empty(test_acc[k], int(test.lengths[k])),
                penalty,
            )
        )
    return evaluations


def _accuracies(first: TrainingSession, output: torch.Tensor, points: PointStack) -> torch.Tensor:
    """Each member's share of its points classified right, [K]; NaN for regression."""
    task = first.task
    if task.name == "regression":
        return torch.full((output.shape[0],), math.nan)
    if task.class_ids:
        right = output.argmax(dim=2) == points.y
    else:
        right = ((output > 0).float() == points.y).squeeze(2)
    return (right & points.mask).float().sum(1) / points.lengths


def _has_penalty(member: TrainingSession) -> bool:
    t = member.config.training
    return (
        t.l1 > 0
        or (t.activation_penalty != "none" and t.activation_penalty_strength > 0)
        or (t.weight_decay > 0 and t.optimizer != "adamw")
    )


def _nan_if_empty(value: float, n: int) -> float:
    return value if n > 0 else math.nan
