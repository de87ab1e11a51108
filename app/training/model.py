"""The multi-layer perceptron: nn.Linear layers whose activations can change live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

ActivationName = Literal["relu", "tanh", "sigmoid", "linear"]
InitName = Literal["default", "playground", "xavier", "kaiming", "zeros"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
}


class MLP(nn.Module):
    """`n_inputs → hidden… → n_outputs`; the output layer is linear (the loss adds its squashing).

    The activation is a name looked up at every forward, not a module, so changing it keeps
    every weight: the next step simply computes with the new function.
    """

    def __init__(
        self, n_inputs: int, hidden: list[int], n_outputs: int, activation: ActivationName
    ) -> None:
        super().__init__()
        sizes = [n_inputs, *hidden, n_outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        self.activations: list[str] = [activation] * len(hidden)

    def set_activation(self, activation: ActivationName) -> None:
        self.activations = [activation] * len(self.activations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, name in zip(self.layers, self.activations, strict=False):
            x = ACTIVATIONS[name](layer(x))
        return self.layers[-1](x)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's activation, the last being the output logits (for neuron maps)."""
        outputs = []
        for layer, name in zip(self.layers, self.activations, strict=False):
            x = ACTIVATIONS[name](layer(x))
            outputs.append(x)
        outputs.append(self.layers[-1](x))
        return outputs


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


def build_model(
    n_inputs: int,
    hidden: list[int],
    activation: ActivationName,
    init: InitName,
    seed: int,
) -> MLP:
    model = MLP(n_inputs, hidden, 1, activation)
    initialise(model, init, torch.Generator().manual_seed(seed))
    return model
