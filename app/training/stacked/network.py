"""K networks of one shape as stacked parameters ([K, out, in], [K, out], [K, 1]) and their
forward pass as batched matmuls over [K, batch, in]."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from app.training.model import ACTIVATIONS, MLP
from app.training.stacked.shape import RunShape


@dataclass(frozen=True)
class Slot:
    """One parameter of the MLP, by its name in named_parameters(), stacked over the runs."""

    name: str
    layer: int  # the index freeze() uses: model.layers[i], or the PReLU slope of layer i
    # False for a PReLU slope whose layer is no longer PReLU: only L1 gives it a gradient.
    in_forward: bool


def slots_of(model: MLP) -> list[Slot]:
    """Every parameter in the order of model.parameters() (the optimizer's order)."""
    slots = []
    for name, _ in model.named_parameters():
        kind, index, *_ = name.split(".")
        layer = int(index)
        in_forward = kind == "layers" or model.activations[layer] == "prelu"
        slots.append(Slot(name, layer, in_forward))
    return slots


class StackedNetwork:
    """The runs' parameters as leaf tensors with one row per run; a row is one run's tensor."""

    def __init__(self, shape: RunShape, models: Sequence[MLP]) -> None:
        self.shape = shape
        self.slots = slots_of(models[0])
        self.tensors = [
            torch.stack([dict(m.named_parameters())[s.name].detach() for m in models])
            .clone()
            .requires_grad_(True)
            for s in self.slots
        ]
        index = {s.name: i for i, s in enumerate(self.slots)}
        n_layers = len(shape.hidden_layers) + 1
        self._weights = [index[f"layers.{i}.weight"] for i in range(n_layers)]
        self._biases = [index[f"layers.{i}.bias"] for i in range(n_layers)]
        self._slopes = {s.layer: i for i, s in enumerate(self.slots) if s.name.startswith("prelu")}

    def with_tensors(self, tensors: list[torch.Tensor]) -> StackedNetwork:
        """The same network over other rows (runs joined or left)."""
        network = copy.copy(self)
        network.tensors = tensors
        return network

    def forward(
        self, x: torch.Tensor, rows: list[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Every hidden layer's activations, then the outputs: [K, batch, …] each, as
        MLP.forward_all computes per run (F.linear is x·Wᵀ + b). `rows`: some runs' rows of
        every parameter, in slot order, instead of all of them."""
        params = self.tensors if rows is None else rows
        outputs = []
        h = x
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases, strict=True)):
            # The bias as [K, 1, out]: broadcast over the batch inside baddbmm.
            z = torch.baddbmm(params[b].unsqueeze(1), h, params[w].transpose(1, 2))
            if i == last:
                outputs.append(z)
                break
            h = self._activate(i, z, params)
            outputs.append(h)
        return outputs

    def forward_points(self, x_t: torch.Tensor) -> list[torch.Tensor]:
        """forward() for reading many points: inputs as [K, in, n] and every layer as
        [K, units, n] (W·xᵀ + b). With n last, torch's batched matmul over tiny layers runs
        2–8× faster than over [K, n, in] (measured at K=100, n=4096), and [K, units, n] is
        already the layout of a neuron's picture."""
        outputs = []
        h = x_t
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases, strict=True)):
            z = torch.baddbmm(self.tensors[b].unsqueeze(2), self.tensors[w], h)
            if i == last:
                outputs.append(z)
                break
            h = self._activate(i, z, self.tensors)
            outputs.append(h)
        return outputs

    def flat_linear(self) -> torch.Tensor:
        """Every run's layers' weights then biases, layer by layer, as one row [K, P]: what
        directions.flat_params gives of each run, for all of them in one copy."""
        k = self.tensors[0].shape[0]
        pieces = [
            self.tensors[i].detach().reshape(k, -1)
            for pair in zip(self._weights, self._biases, strict=True)
            for i in pair
        ]
        return torch.cat(pieces, dim=1)

    def _activate(self, i: int, z: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        name = self.shape.activations[i]
        if name == "prelu":
            # F.prelu takes one slope per channel, not per run: the same rule, run by run.
            slope = params[self._slopes[i]].view(-1, 1, 1)
            return torch.where(z > 0, z, slope * z)
        return ACTIVATIONS[name](z)

    def absolute_sums(self) -> torch.Tensor:
        """Σ|θ| over every parameter, per run [K]: the L1 penalty's sum."""
        return torch.stack([t.abs().flatten(1).sum(1) for t in self.tensors]).sum(0)
