"""Neuron surgery: one weight set by hand, a neuron switched off and on, and the log of both.

The log (step, edit) is what the exported script replays to reproduce the run, and what a
rewind cuts back: a neuron's mask is worked out from the switches still in the log, while a
weight edit is undone with the weights a rewind restores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from app.training.errors import SettingError
from app.training.model import MLP


@dataclass(frozen=True)
class WeightEdit:
    """model.layers[layer].weight[out_neuron, in_neuron] = value, before step `step` + 1."""

    step: int
    layer: int
    out_neuron: int
    in_neuron: int
    value: float


@dataclass(frozen=True)
class NeuronSwitch:
    """Hidden layer `layer`'s neuron `neuron` on (its output passed on) or off (masked to 0)."""

    step: int
    layer: int
    neuron: int
    on: bool


Surgery = WeightEdit | NeuronSwitch


def _linear(model: MLP, layer: int) -> nn.Linear:
    if not 0 <= layer < len(model.layers):
        raise SettingError("layer", f"no layer {layer}: the network has {len(model.layers)}")
    linear = model.layers[layer]
    assert isinstance(linear, nn.Linear)
    return linear


def _check_index(field: str, index: int, size: int, what: str) -> None:
    if not 0 <= index < size:
        raise SettingError(field, f"no {what} {index}: there are {size}")


class SurgeryLog:
    """Every edit of one run, oldest first; applies each to the model as it is logged."""

    def __init__(self) -> None:
        self.edits: list[Surgery] = []

    def edit_weight(self, model: MLP, edit: WeightEdit) -> None:
        """Write the weight (SettingError, and nothing changed, for one that is not there)."""
        linear = _linear(model, edit.layer)
        _check_index("out_neuron", edit.out_neuron, linear.out_features, "neuron")
        _check_index("in_neuron", edit.in_neuron, linear.in_features, "input")
        if not math.isfinite(edit.value):
            raise SettingError("value", f"a weight must be a finite number, not {edit.value}")
        with torch.no_grad():
            linear.weight[edit.out_neuron, edit.in_neuron] = edit.value
        self.edits.append(edit)

    def switch_neuron(self, model: MLP, switch: NeuronSwitch) -> None:
        """Mask a hidden neuron's output from the next forward on, or pass it on again."""
        if not 0 <= switch.layer < len(model.layers) - 1:
            hidden = len(model.layers) - 1
            raise SettingError("layer", f"no hidden layer {switch.layer}: there are {hidden}")
        width = _linear(model, switch.layer).out_features
        _check_index("neuron", switch.neuron, width, "neuron")
        self.edits.append(switch)
        apply_masks(model, self.edits)

    def rewind_to(self, model: MLP, step: int) -> None:
        """Forget the edits made after `step` (the weights are the caller's to restore)."""
        self.edits = [e for e in self.edits if e.step <= step]
        apply_masks(model, self.edits)

    def switched_off(self) -> list[tuple[int, int]]:
        """(layer, neuron) of every neuron off now."""
        off: dict[tuple[int, int], bool] = {}
        for edit in self.edits:
            if isinstance(edit, NeuronSwitch):
                off[(edit.layer, edit.neuron)] = not edit.on
        return sorted(key for key, is_off in off.items() if is_off)


def apply_masks(model: MLP, edits: list[Surgery]) -> None:
    """The model's masks as the switches in `edits` leave them: none for a layer all on."""
    masks: dict[int, torch.Tensor] = {}
    for edit in edits:
        if not isinstance(edit, NeuronSwitch):
            continue
        if edit.layer not in masks:
            masks[edit.layer] = torch.ones(_linear(model, edit.layer).out_features)
        masks[edit.layer][edit.neuron] = 1.0 if edit.on else 0.0
    model.neuron_masks = {layer: m for layer, m in masks.items() if not bool(m.all())}
