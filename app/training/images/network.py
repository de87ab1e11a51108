"""The image model as one nn.Sequential of named stages, so every stage's output can be shown.

Stage names are what the page labels (conv1, pool1, dense1, output…) and what the parameters
are called (`stages.conv1.weight`), so a view, a test and the exported script agree.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from app.training.images.config import ImageActivation, ImageModelConfig
from app.training.images.digits import N_CLASSES, SIDE

ACTIVATION_MODULES: dict[ImageActivation, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


class DenseBlock(nn.Module):
    """Linear → (BatchNorm1d) → activation, plus its input when `residual` (same width)."""

    def __init__(
        self, n_in: int, n_out: int, activation: ImageActivation, batchnorm: bool, residual: bool
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.BatchNorm1d(n_out) if batchnorm else None
        self.activation = ACTIVATION_MODULES[activation]()
        self.residual = residual and n_in == n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        if self.norm is not None:
            z = self.norm(z)
        out: torch.Tensor = self.activation(z)
        return out + x if self.residual else out


def _conv_stages(config: ImageModelConfig) -> tuple[list[tuple[str, nn.Module]], int]:
    stages: list[tuple[str, nn.Module]] = []
    channels = 1
    for number, block in enumerate(config.conv_blocks, start=1):
        padding = block.kernel_size // 2 if block.padding else 0
        conv = nn.Conv2d(channels, block.channels, block.kernel_size, padding=padding)
        stages.append((f"conv{number}", conv))
        if config.batchnorm:
            stages.append((f"bn{number}", nn.BatchNorm2d(block.channels)))
        stages.append((f"act{number}", ACTIVATION_MODULES[config.activation]()))
        if block.pool:
            stages.append((f"pool{number}", nn.MaxPool2d(2)))
        channels = block.channels
    side = config.map_sides()[-1] if config.conv_blocks else SIDE
    return stages, channels * side * side


def build_image_model(config: ImageModelConfig) -> nn.Sequential:
    """The model for `config`, its initial weights drawn from `config.seed` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        stages, width = _conv_stages(config)
        stages.append(("flatten", nn.Flatten()))
        for number, n_out in enumerate(config.hidden_layers, start=1):
            block = DenseBlock(width, n_out, config.activation, config.batchnorm, config.residual)
            stages.append((f"dense{number}", block))
            width = n_out
        if config.dropout > 0:
            stages.append(("dropout", nn.Dropout(config.dropout)))
        stages.append(("output", nn.Linear(width, N_CLASSES)))
        return nn.Sequential(OrderedDict(stages))


def first_layer(model: nn.Sequential) -> nn.Conv2d | nn.Linear:
    """The layer whose weights look at pixels: conv1, or for an MLP its first Linear."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            return module
    raise ValueError("the model has no layer with weights")


def stage_outputs(model: nn.Sequential, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Every stage's output for the batch `x`, in order (the last is the logits)."""
    outputs = []
    for name, stage in model.named_children():
        x = stage(x)
        outputs.append((name, x))
    return outputs
