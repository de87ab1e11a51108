"""Gradient health: the monitor's per-layer figures against a hand computation, unit counts
against a direct count, and the flags on the nets they are meant for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from app.training.config import LabConfig, ModelConfig, TrainingConfig
from app.training.grad_health import (
    SATURATED_POINT_FRACTION,
    health_report,
    percentiles,
    unit_health,
)
from app.training.grad_monitor import SAMPLE_EVERY_STEPS, SAMPLE_SLOTS, GradientStats
from app.training.session import TrainingSession


def linear_layers(session: TrainingSession) -> list[nn.Linear]:
    return [layer for layer in session.model.layers if isinstance(layer, nn.Linear)]


def hand_figures(session: TrainingSession, steps: int) -> dict[str, np.ndarray]:
    """The tutorial's loop, measuring each layer's weight gradient and update in plain Python
    on the steps the monitor samples (the first after a collect, then every
    SAMPLE_EVERY_STEPS-th)."""
    norms, means, maxes, deltas = [], [], [], []
    for step in range(steps):
        x, y = session.next_batch()
        session.optimizer.zero_grad()
        loss = session.compute_loss(session.model(x), y)
        loss.backward()
        layers = linear_layers(session)
        grads = [layer.weight.grad.clone() for layer in layers]  # type: ignore[union-attr]
        before = [layer.weight.detach().clone() for layer in layers]
        session.before_optimizer_step()
        session.optimizer.step()
        session.finish_step(loss)
        if step % SAMPLE_EVERY_STEPS != 0:
            continue
        norms.append([float(torch.sqrt((g * g).sum())) for g in grads])
        means.append([float(g.abs().sum() / g.numel()) for g in grads])
        maxes.append([float(g.abs().max()) for g in grads])
        deltas.append(
            [
                float((layer.weight.detach() - b).norm())
                for layer, b in zip(layers, before, strict=True)
            ]
        )
    weight_norms = np.array([float(la.weight.detach().norm()) for la in linear_layers(session)])
    return {
        "grad_norm": np.mean(norms, axis=0),
        "mean_abs_grad": np.mean(means, axis=0),
        "max_abs_grad": np.max(maxes, axis=0),
        "update_ratio": np.mean(deltas, axis=0) / weight_norms,
    }


@pytest.mark.parametrize(
    ("optimizer", "samples"),
    [("sgd", 3), ("adam", 3), ("sgd", 2 * SAMPLE_SLOTS + 3)],  # the last fills the slots twice
)
def test_per_layer_figures_equal_a_hand_computation_over_several_steps(
    optimizer: str, samples: int
) -> None:
    config = LabConfig(
        model=ModelConfig(hidden_layers=[5, 3]), training=TrainingConfig(optimizer=optimizer)
    )
    session = TrainingSession(config)
    session.gradient_monitor.collect()
    expected = hand_figures(session, steps=(samples - 1) * SAMPLE_EVERY_STEPS + 3)
    stats = session.gradient_monitor.collect()
    assert stats is not None and stats.steps == samples, "steps 0, 32, 64… are sampled"
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(stats, name), values, rtol=1e-5, err_msg=name)


def test_a_burst_records_its_figures_with_its_losses_and_starts_afresh() -> None:
    session = TrainingSession()
    assert session.history[-1].gradients is None  # step 0: no gradient yet
    session.burst(7)
    stats = session.history[-1].gradients
    assert stats is not None and stats.steps == 1 and len(stats.grad_norm) == 3
    assert session.gradient_monitor.collect() is None


def test_a_frozen_layer_has_no_gradient_and_no_update() -> None:
    session = TrainingSession(LabConfig(model=ModelConfig(hidden_layers=[4, 2], frozen_layers=[1])))
    session.burst(3)
    stats = session.history[-1].gradients
    assert stats is not None
    assert stats.grad_norm[1] == 0 and stats.update_ratio[1] == 0
    assert stats.grad_norm[0] > 0 and stats.update_ratio[0] > 0


def test_dead_relu_and_saturation_counts_equal_a_direct_count() -> None:
    torch.manual_seed(3)
    relu = torch.relu(torch.randn(50, 6))
    relu[:, 1] = 0.0
    relu[:, 4] = 0.0
    tanh = torch.tanh(torch.randn(50, 5) * 4)
    tanh[:, 2] = 0.999
    sigmoid = torch.sigmoid(torch.randn(50, 4) * 8)
    health = unit_health([relu, tanh, sigmoid], ["relu", "tanh", "sigmoid"])

    def count(units: list[list[float]], flat) -> int:  # type: ignore[no-untyped-def]
        return sum(1 for column in units if flat(column))

    def columns(t: torch.Tensor) -> list[list[float]]:
        return [[float(v) for v in t[:, j]] for j in range(t.shape[1])]

    dead = count(columns(relu), lambda c: all(v == 0 for v in c))
    tanh_flat = count(
        columns(tanh),
        lambda c: sum(abs(v) > 0.99 for v in c) / len(c) >= SATURATED_POINT_FRACTION,
    )
    sigmoid_flat = count(
        columns(sigmoid),
        lambda c: sum(v < 0.01 or v > 0.99 for v in c) / len(c) >= SATURATED_POINT_FRACTION,
    )
    assert dead == 2 and tanh_flat >= 1
    assert health.dead_units == [dead, 0, 0]
    assert health.saturated_units == [0, tanh_flat, sigmoid_flat]
    assert health.dead_fraction == [dead / 6, None, None]
    assert health.saturated_fraction == [None, tanh_flat / 5, sigmoid_flat / 4]


def test_percentile_bands_are_torch_quantiles_of_all_values() -> None:
    values = torch.arange(101.0).reshape(1, 101)
    bands = percentiles(values)
    assert bands[0] == 0 and bands[4] == 50 and bands[-1] == 100
    assert bands == sorted(bands)


def six_layer_net(activation: str) -> TrainingSession:
    return TrainingSession(
        LabConfig(model=ModelConfig(hidden_layers=[4] * 6, activation=activation))  # type: ignore[arg-type]
    )


def kinds(session: TrainingSession) -> set[str]:
    report = health_report(session.model, session.data.train_x, session.history[-1].gradients)
    return {f.kind for f in report.flags}


def test_a_six_layer_sigmoid_net_vanishes_and_relu_on_the_same_weights_does_not() -> None:
    session = six_layer_net("sigmoid")
    session.burst(10)
    assert "vanishing" in kinds(session)
    session.set_activation("relu")
    session.burst(5)
    assert "vanishing" not in kinds(session)


def test_flags_explain_themselves() -> None:
    stats = GradientStats(
        steps=1,
        grad_norm=np.array([1e-7, 5e3, 1.0]),
        mean_abs_grad=np.array([1e-9, 1.0, 0.5]),
        max_abs_grad=np.array([1e-9, 1.0, 0.5]),
        update_ratio=np.array([1e-3, 0.5, 1e-3]),
    )
    session = TrainingSession(LabConfig(model=ModelConfig(hidden_layers=[4, 2])))
    report = health_report(session.model, session.data.train_x, stats)
    messages = {(f.kind, f.layer): f.message for f in report.flags}
    assert "smaller than layers[1]" in messages[("vanishing", 0)]
    assert "5e+03" in messages[("exploding", 1)]
    assert "‖Δw‖/‖w‖" in messages[("large_update", 1)]
