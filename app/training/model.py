"""The multi-layer perceptron: nn.Linear layers whose activations can change live, per layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from app.training.features import FeatureMap

ActivationName = Literal["relu", "leaky_relu", "prelu", "elu", "gelu", "tanh", "sigmoid", "linear"]
InitName = Literal["default", "playground", "xavier", "kaiming", "zeros"]

# nn.PReLU's own starting slope.
PRELU_INITIAL_SLOPE = 0.25

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "leaky_relu": F.leaky_relu,  # slope 0.01, as nn.LeakyReLU()
    "elu": F.elu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
}


class MLP(nn.Module):
    """`features → hidden… → n_outputs`; the output layer is linear (the loss adds its squashing).

    Activations are names looked up at every forward, not modules, so changing one keeps every
    weight: the next step simply computes with the new function. A PReLU layer owns one learnable
    slope (`prelu[str(layer)]`), created the first time that layer becomes PReLU and kept after,
    so switching back and forth keeps what it learnt.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden: list[int],
        n_outputs: int,
        activation: ActivationName | list[ActivationName],
        features: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.features = FeatureMap(features or ["x1", "x2"][:n_inputs])
        if len(self.features.names) != n_inputs:
            raise ValueError(f"{n_inputs} inputs but features {self.features.names}")
        sizes = [n_inputs, *hidden, n_outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        self.prelu = nn.ParameterDict()
        self.activations: list[str] = []
        self.set_activations(
            [activation] * len(hidden) if isinstance(activation, str) else list(activation)
        )
        # Set by forward while autograd records: the hidden activations of the last batch, for
        # the activation penalty that compute_loss adds.
        self.hidden_outputs: list[torch.Tensor] = []
        # Neurons switched off by hand: hidden layer → a 0/1 mask its outputs are multiplied
        # by (surgery.py keeps the log they come from). Empty while every neuron is on.
        self.neuron_masks: dict[int, torch.Tensor] = {}

    def set_activations(self, activations: list[ActivationName]) -> list[nn.Parameter]:
        """New activation per hidden layer; returns PReLU slopes created by this change."""
        n_hidden = len(self.layers) - 1
        if len(activations) != n_hidden:
            raise ValueError(f"{len(activations)} activations for {n_hidden} hidden layers")
        created = []
        for i, name in enumerate(activations):
            if name == "prelu" and str(i) not in self.prelu:
                slope = nn.Parameter(torch.full((1,), PRELU_INITIAL_SLOPE))
                layer = self.layers[i]
                assert isinstance(layer, nn.Linear)
                slope.requires_grad_(layer.weight.requires_grad)
                self.prelu[str(i)] = slope
                created.append(slope)
            elif name != "prelu" and name not in ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}")
        self.activations = list(activations)
        return created

    def activate(self, i: int, z: torch.Tensor) -> torch.Tensor:
        """Hidden layer i's output: its activation, with any neuron switched off masked to 0.
        Every eager forward path (this, the phase stepper, the traces) goes through here."""
        name = self.activations[i]
        a = F.prelu(z, self.prelu[str(i)]) if name == "prelu" else ACTIVATIONS[name](z)
        mask = self.neuron_masks.get(i)
        return a if mask is None else a * mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[-1]

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden layer's activation, then the output logits (for neuron maps)."""
        h = x if self.features.is_identity else self.features(x)
        outputs = []
        # Iterating, not slicing: `layers[:-1]` builds a new ModuleList on every forward, a
        # measurable share of a ~150 µs step.
        *hidden, last = self.layers
        for i, layer in enumerate(hidden):
            h = self.activate(i, layer(h))
            outputs.append(h)
        if torch.is_grad_enabled():
            # A plain attribute, so straight into __dict__: nn.Module's __setattr__ (checking
            # for parameters and submodules) is a measurable share of a small model's step.
            vars(self)["hidden_outputs"] = list(outputs)
        outputs.append(last(h))
        return outputs

    def freeze(self, frozen_layers: set[int]) -> None:
        """requires_grad_(False) on the frozen layers (and their PReLU slope), True elsewhere."""
        for i, layer in enumerate(self.layers):
            layer.requires_grad_(i not in frozen_layers)
        for key, slope in self.prelu.items():
            slope.requires_grad_(int(key) not in frozen_layers)


@torch.no_grad()
def initialise(model: MLP, scheme: InitName, generator: torch.Generator) -> None:
    """Re-draw every parameter from `generator` so one seed gives one network."""
    for layer in model.layers:
        assert isinstance(layer, nn.Linear)
        w, b = layer.weight, layer.bias
        fan_in = w.shape[1]
        if scheme == "default":
            # nn.Linear's own rule (kaiming_uniform with a=√5 ⇒ U(±1/√fan_in)), seeded.
            bound = 1.0 / fan_in**0.5
            w.uniform_(-bound, bound, generator=generator)
            b.uniform_(-bound, bound, generator=generator)
        elif scheme == "playground":
            w.uniform_(-0.5, 0.5, generator=generator)
            b.fill_(0.1)
        elif scheme == "xavier":
            nn.init.xavier_uniform_(w, generator=generator)
            b.zero_()
        elif scheme == "kaiming":
            nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=generator)
            b.zero_()
        else:
            w.zero_()
            b.zero_()
    for slope in model.prelu.values():
        slope.fill_(PRELU_INITIAL_SLOPE)


def build_model(
    n_inputs: int,
    hidden: list[int],
    activation: ActivationName | list[ActivationName],
    init: InitName,
    seed: int,
    *,
    n_outputs: int = 1,
    features: list[str] | None = None,
) -> MLP:
    model = MLP(n_inputs, hidden, n_outputs, activation, features)
    initialise(model, init, torch.Generator().manual_seed(seed))
    return model
