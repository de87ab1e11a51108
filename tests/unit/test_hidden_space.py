"""The hidden space against the forward pass written out by hand, and against torch's PCA."""

from __future__ import annotations

import pytest
import torch

from app.training.config import LabConfig
from app.training.errors import SettingError
from app.training.hidden_space import GRID_LINES, POINTS_PER_LINE, grid_lines, hidden_space
from app.training.surgery import NeuronSwitch
from app.training.trainer import TrainingSession


def trained() -> TrainingSession:
    config = {"model": {"hidden_layers": [6, 5], "activation": "relu"}}
    session = TrainingSession(LabConfig.model_validate(config))
    session.train_steps(100)
    return session


def by_hand(session: TrainingSession, x: torch.Tensor, layer: int) -> torch.Tensor:
    """relu(W·x + b) layer after layer, with torch's functions, no MLP code."""
    h = x
    with torch.no_grad():
        for linear in list(session.model.layers)[: layer + 1]:
            h = torch.relu(h @ linear.weight.T + linear.bias)
    return h


@pytest.mark.parametrize("layer", [0, 1])
def test_two_neurons_are_the_forward_pass_values(layer: int) -> None:
    session = trained()
    x = session.data.train_x
    space = hidden_space(session.model, x, layer, (3, 1))
    torch.testing.assert_close(
        space.points, by_hand(session, x, layer)[:, [3, 1]], atol=1e-6, rtol=0
    )
    expected_grid = by_hand(session, grid_lines().reshape(-1, 2), layer)[:, [3, 1]]
    assert space.grid.shape == (2 * GRID_LINES, POINTS_PER_LINE, 2)
    torch.testing.assert_close(space.grid.reshape(-1, 2), expected_grid, atol=1e-6, rtol=0)


def test_the_grid_is_lines_of_constant_x2_then_of_constant_x1() -> None:
    grid = grid_lines()
    assert torch.all(grid[0, :, 1] == grid[0, 0, 1])
    assert torch.all(grid[GRID_LINES, :, 0] == grid[GRID_LINES, 0, 0])


def test_principal_components_are_the_projection_on_torchs_own_pca() -> None:
    session = trained()
    x = session.data.train_x
    space = hidden_space(session.model, x, 0, None)
    h = by_hand(session, x, 0)
    centred = h - h.mean(0)
    _, s, v = torch.pca_lowrank(centred, q=6, center=False)
    expected = centred @ v[:, :2]
    # A component is defined up to its sign.
    for k in range(2):
        sign = torch.sign((space.points[:, k] * expected[:, k]).sum())
        torch.testing.assert_close(space.points[:, k], sign * expected[:, k], atol=1e-5, rtol=0)
    assert space.explained is not None
    assert space.explained[0] == pytest.approx(float(s[0] ** 2 / (s**2).sum()), rel=1e-4)


def test_a_neuron_switched_off_sits_at_zero() -> None:
    session = trained()
    session.surgery.switch_neuron(session.model, NeuronSwitch(100, 0, 3, on=False))
    space = hidden_space(session.model, session.data.train_x, 0, (3, 1))
    assert torch.all(space.points[:, 0] == 0)


def test_a_layer_or_neuron_that_is_not_there_is_named() -> None:
    session = trained()
    with pytest.raises(SettingError, match="hidden layer 2"):
        hidden_space(session.model, session.data.train_x, 2, None)
    with pytest.raises(SettingError, match="neuron 6"):
        hidden_space(session.model, session.data.train_x, 0, (0, 6))
