"""The autograd graph drawn is the one autograd recorded: checked against a walk of our own."""

from __future__ import annotations

from typing import get_args

import pytest
import torch

from app.realtime.backprop import BackpropChannel
from app.training.autograd_graph import walk_autograd_graph
from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.model import ActivationName
from app.training.phases import PHASES
from app.training.session import TrainingSession

DATASETS = ["circle", "blobs", "plane"]  # one per loss: BCE, cross-entropy, MSE


def session_for(activation: str, dataset: str = "circle", **model: object) -> TrainingSession:
    return TrainingSession(
        LabConfig(
            data=DataConfig(dataset=dataset, n_points=60, seed=1),  # type: ignore[arg-type]
            model=ModelConfig(hidden_layers=[3, 2], activation=activation, **model),  # type: ignore[arg-type]
        )
    )


def batch_loss(session: TrainingSession) -> torch.Tensor:
    x, y = session.data.train_x[:5], session.data.train_y[:5]
    return session.compute_loss(session.model(x), y)


def edges_by_recursion(loss: torch.Tensor) -> set[tuple[object, object]]:
    """Depth-first, written independently of the module under test."""
    found: set[tuple[object, object]] = set()
    visited: set[object] = set()

    def visit(function: object) -> None:
        if function in visited:
            return
        visited.add(function)
        for child, _ in function.next_functions:  # type: ignore[attr-defined]
            if child is not None:
                found.add((function, child))
                visit(child)

    visit(loss.grad_fn)
    return found


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("activation", get_args(ActivationName))
def test_nodes_and_edges_are_those_of_grad_fn(activation: str, dataset: str) -> None:
    session = session_for(activation, dataset)
    loss = batch_loss(session)
    graph = walk_autograd_graph(loss, session.model)
    functions = [n.function for n in graph.nodes]
    assert len(set(map(id, functions))) == len(functions), "each Node once"
    shown = {(functions[s], functions[t]) for s, t in graph.edges}
    assert shown == edges_by_recursion(loss)
    assert len(graph.edges) == len(shown), "each edge once"
    assert graph.nodes[0].function is loss.grad_fn
    assert {n.name for n in graph.nodes} >= {"AddmmBackward0", "AccumulateGrad"}
    for node in graph.nodes:
        assert node.name == type(node.function).__name__


def test_leaves_are_named_after_the_parameters_that_get_gradients() -> None:
    session = session_for("prelu", frozen_layers=[0])
    graph = walk_autograd_graph(batch_loss(session), session.model)
    leaves = {n.parameter: n.shape for n in graph.nodes if n.name == "AccumulateGrad"}
    trainable = {
        name: tuple(p.shape) for name, p in session.model.named_parameters() if p.requires_grad
    }
    assert leaves == trainable
    assert "layers.0.weight" not in leaves, "a frozen layer is not in the backward graph"


def test_after_backward_every_leaf_shows_its_gradients_norm() -> None:
    session = session_for("tanh")
    loss = batch_loss(session)
    assert not walk_autograd_graph(loss, session.model).has_gradients
    loss.backward()
    graph = walk_autograd_graph(loss, session.model)
    parameters = dict(session.model.named_parameters())
    for node in graph.nodes:
        if node.parameter is None:
            assert node.grad_norm is None
        else:
            grad = parameters[node.parameter].grad
            assert grad is not None and node.grad_norm == grad.norm().item()


def test_every_edge_points_to_a_deeper_layer_and_the_largest_model_stays_small() -> None:
    session = session_for("tanh")
    session.rebuild(model=ModelConfig(hidden_layers=[16] * 6, activation="tanh"))
    graph = walk_autograd_graph(batch_loss(session), session.model)
    for source, target in graph.edges:
        assert graph.nodes[target].depth > graph.nodes[source].depth
    # One op chain per layer, not one node per neuron: readable at the largest size.
    assert len(graph.nodes) <= 1 + 5 * 7
    widest = max(sum(1 for n in graph.nodes if n.depth == d) for d in range(20))
    assert widest <= 4


def test_drawing_the_graph_between_phases_leaves_the_step_bit_identical() -> None:
    config = LabConfig(
        model=ModelConfig(hidden_layers=[4, 3], activation="relu"),
        training=TrainingConfig(
            optimizer="adam", l1=0.001, activation_penalty="l1", activation_penalty_strength=0.1
        ),
    )
    plain, phased = TrainingSession(config), TrainingSession(config)
    channel = BackpropChannel(phased)
    for _ in range(3):
        loss = plain.train_step()
        for _ in PHASES:
            channel.step_phase()
            channel.refresh(running=False)
        assert phased.last_loss == loss
    for p, q in zip(plain.model.parameters(), phased.model.parameters(), strict=True):
        assert torch.equal(p, q)
