"""An image run's training loop as a standalone script that replays it: same digits, same
seeds, same batches, same model, so it prints the losses the app computed.

It needs torch, numpy and scikit-learn (whose `load_digits` reads the same data file the app
reads). The model is written out stage by stage with the names the app shows (conv1, pool1…).
"""

from __future__ import annotations

from app.training.batches import batch_seed
from app.training.code_export import PHASE_LINE_PREFIXES, CodeExport, optimizer_lines
from app.training.images.config import ImageLabConfig, ImageModelConfig
from app.training.images.digits import SIDE
from app.training.phases import PHASES

ACTIVATION_CODE = {
    "relu": "nn.ReLU()",
    "leaky_relu": "nn.LeakyReLU()",
    "elu": "nn.ELU()",
    "gelu": "nn.GELU()",
    "tanh": "nn.Tanh()",
    "sigmoid": "nn.Sigmoid()",
}

DENSE_BLOCK = '''\
class DenseBlock(nn.Module):
    """Linear → (BatchNorm1d) → activation, plus its input when `residual` (same width)."""

    def __init__(self, n_in, n_out, activation, batchnorm, residual):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.BatchNorm1d(n_out) if batchnorm else None
        self.activation = activation
        self.residual = residual and n_in == n_out

    def forward(self, x):
        z = self.linear(x)
        if self.norm is not None:
            z = self.norm(z)
        out = self.activation(z)
        return out + x if self.residual else out
'''


def export_image_script(config: ImageLabConfig, steps: int = 1000) -> CodeExport:
    source = "\n".join(
        [_header(config), _data_section(config), _model_section(config.model), _loop(config, steps)]
    )
    lines = source.splitlines()
    phase_lines = {
        phase: next(i + 1 for i, line in enumerate(lines) if line.startswith(prefix))
        for phase in PHASES
        for prefix in [PHASE_LINE_PREFIXES[phase]]
    }
    return CodeExport(source, phase_lines)


def _header(config: ImageLabConfig) -> str:
    kind = "a CNN" if config.model.conv_blocks else "an MLP"
    return f'''\
"""Backprop Lab's digits run as a script: {kind} on the 8×8 digits, {config.training.optimizer}.

Needs torch, numpy and scikit-learn (the digits ship inside it); same seeds, same data, same
batches, so it prints the losses the app computed, step by step, then the test loss and
accuracy in eval mode. `python train_digits.py 20` runs 20 steps.
"""

import sys
from collections import OrderedDict

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

torch.set_num_threads(1)
'''


def _data_section(config: ImageLabConfig) -> str:
    d = config.data
    return f"""\
# ---- data: 1,797 digits, ink 0–16 scaled to 0–1, shuffled with the seed ----
digits = load_digits()
images = digits.images.astype(np.float32) / 16.0
order = np.random.default_rng({d.seed}).permutation(len(images))
n_train = max(1, min(len(images) - 1, round(len(images) * {d.train_fraction!r})))
x_all = torch.from_numpy(images[order].copy()).reshape(-1, 1, {SIDE}, {SIDE})
y_all = torch.from_numpy(digits.target[order].copy()).long()
train_x, train_y = x_all[:n_train], y_all[:n_train]
test_x, test_y = x_all[n_train:], y_all[n_train:]
"""


def _stage_lines(model: ImageModelConfig) -> list[str]:
    activation = ACTIVATION_CODE[model.activation]
    lines, channels = [], 1
    for n, block in enumerate(model.conv_blocks, start=1):
        padding = block.kernel_size // 2 if block.padding else 0
        lines.append(
            f'    ("conv{n}", nn.Conv2d({channels}, {block.channels}, {block.kernel_size}, '
            f"padding={padding})),"
        )
        if model.batchnorm:
            lines.append(f'    ("bn{n}", nn.BatchNorm2d({block.channels})),')
        lines.append(f'    ("act{n}", {activation}),')
        if block.pool:
            lines.append(f'    ("pool{n}", nn.MaxPool2d(2)),')
        channels = block.channels
    side = model.map_sides()[-1] if model.conv_blocks else SIDE
    width = channels * side * side
    lines.append('    ("flatten", nn.Flatten()),')
    for n, n_out in enumerate(model.hidden_layers, start=1):
        lines.append(
            f'    ("dense{n}", DenseBlock({width}, {n_out}, {activation}, '
            f"batchnorm={model.batchnorm}, residual={model.residual})),"
        )
        width = n_out
    if model.dropout > 0:
        lines.append(f'    ("dropout", nn.Dropout({model.dropout!r})),')
    lines.append(f'    ("output", nn.Linear({width}, 10)),')
    return lines


def _model_section(model: ImageModelConfig) -> str:
    dense = [DENSE_BLOCK, ""] if model.hidden_layers else []
    return "\n".join(
        [
            "# ---- the model: its initial weights drawn from the seed, stage by stage ----",
            *dense,
            f"torch.manual_seed({model.seed})",
            "model = nn.Sequential(OrderedDict([",
            *_stage_lines(model),
            "]))",
            "",
        ]
    )


def _loop(config: ImageLabConfig, steps: int) -> str:
    t = config.training
    dropout_seed = batch_seed(config.model.seed, config.data.seed)
    schedule = optimizer_lines(t)
    clip = (
        [f"    torch.nn.utils.clip_grad_norm_(model.parameters(), {t.grad_clip_norm!r})"]
        if t.grad_clip_norm > 0
        else []
    )
    return "\n".join(
        [
            "# ---- loss, optimizer, schedule ----",
            "loss_fn = nn.CrossEntropyLoss()",
            *schedule,
            f"torch.manual_seed({dropout_seed})  # what dropout's masks are drawn from",
            "",
            "",
            "def batches(n, batch_size, seed):",
            '    """Shuffled each epoch; the last batch of an epoch may be smaller."""',
            "    generator = torch.Generator().manual_seed(seed)",
            "    while True:",
            "        order = torch.randperm(n, generator=generator)",
            "        for start in range(0, n, batch_size):",
            "            yield order[start : start + batch_size]",
            "",
            "",
            f"batch_indices = batches(n_train, min({t.batch_size}, n_train), "
            f"seed={batch_seed(config.data.seed, config.model.seed)})",
            "",
            "# ---- the training loop: the tutorial's five lines ----",
            f"steps = int(sys.argv[1]) if len(sys.argv) > 1 else {steps}",
            "model.train()  # dropout drops, batch norm uses the batch",
            "for step in range(steps):",
            "    indices = next(batch_indices)",
            "    x, y = train_x[indices], train_y[indices]",
            "    optimizer.zero_grad()",
            "    output = model(x)",
            "    loss = loss_fn(output, y)",
            "    loss.backward()",
            *clip,
            "    optimizer.step()",
            *(["    scheduler.step()"] if len(schedule) > 1 else []),
            '    print(f"step {step + 1}: loss {loss.item():.9f}")',
            "",
            "model.eval()  # the test set sees the deployed model: no dropout, running statistics",
            "with torch.no_grad():",
            "    output = model(test_x)",
            "    accuracy = (output.argmax(dim=1) == test_y).float().mean().item()",
            '    print(f"test loss {loss_fn(output, test_y).item():.9f} accuracy {accuracy:.6f}")',
            "",
        ]
    )
