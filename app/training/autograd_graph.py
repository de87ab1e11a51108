"""The backward graph autograd recorded for a loss: a walk of `grad_fn.next_functions`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GraphNode:
    """One autograd Node; `function` is the Node itself, so a test can compare identities."""

    id: int
    function: object
    name: str
    depth: int
    parameter: str | None
    shape: tuple[int, ...] | None
    grad_norm: float | None


@dataclass(frozen=True)
class AutogradGraph:
    nodes: list[GraphNode]
    # (source id, target id): source's gradient flows on to target.
    edges: list[tuple[int, int]]

    @property
    def has_gradients(self) -> bool:
        return any(n.grad_norm is not None for n in self.nodes)


def walk_autograd_graph(loss: torch.Tensor, model: nn.Module) -> AutogradGraph:
    """Every Node reachable from `loss.grad_fn`, in breadth-first order, with every edge.

    Inputs that need no gradient appear in next_functions as None and are left out, as
    torchviz does. A leaf (AccumulateGrad) is named after the model parameter it feeds.
    """
    if loss.grad_fn is None:
        return AutogradGraph([], [])
    names = {id(p): name for name, p in model.named_parameters()}
    ids: dict[object, int] = {loss.grad_fn: 0}
    order: list[object] = [loss.grad_fn]
    edges: list[tuple[int, int]] = []
    for function in order:  # `order` grows while we walk it: a breadth-first search
        for child, _ in function.next_functions:  # type: ignore[attr-defined]
            if child is None:
                continue
            if child not in ids:
                ids[child] = len(order)
                order.append(child)
            edges.append((ids[function], ids[child]))
    depth = _longest_path_depths(len(order), edges)
    nodes = []
    for i, function in enumerate(order):
        variable = getattr(function, "variable", None)
        parameter = shape = grad_norm = None
        if isinstance(variable, torch.Tensor):
            parameter = names.get(id(variable), "tensor")
            shape = tuple(variable.shape)
            if variable.grad is not None:
                grad_norm = variable.grad.norm().item()
        nodes.append(
            GraphNode(i, function, type(function).__name__, depth[i], parameter, shape, grad_norm)
        )
    return AutogradGraph(nodes, edges)


def _longest_path_depths(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Each node's longest distance from the root, so every edge points strictly downwards."""
    children: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for source, target in edges:
        children[source].append(target)
        indegree[target] += 1
    depth = [0] * n
    ready = [i for i in range(n) if indegree[i] == 0]
    while ready:
        node = ready.pop()
        for child in children[node]:
            depth[child] = max(depth[child], depth[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return depth
