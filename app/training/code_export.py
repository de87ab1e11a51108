"""The training loop for a configuration, as a standalone Python script that replays the run.

The script needs only torch and numpy: it embeds the dataset's generator (its source, copied from
app.training.datasets at export time, so it cannot drift) rather than importing this project,
so a learner can paste it into a notebook. The optimizer and schedule are read back from the
objects the app itself builds, so every keyword the app passes appears in the script.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from app.training import datasets
from app.training.batches import batch_seed
from app.training.config import LabConfig, TrainingConfig
from app.training.optimizers import build_optimizer, build_scheduler
from app.training.phases import PHASES, Phase
from app.training.surgery import NeuronSwitch, Surgery, WeightEdit
from app.training.task import TASKS

# What each phase's line starts with, in the loop the script ends with.
PHASE_LINE_PREFIXES: dict[Phase, str] = {
    "zero_grad": "    optimizer.zero_grad()",
    "forward": "    output = model(x)",
    "loss": "    loss = ",
    "backward": "    loss.backward()",
    "step": "    optimizer.step()",
}
ACTIVATION_MODULES = {
    "relu": "nn.ReLU()",
    "leaky_relu": "nn.LeakyReLU()",
    "prelu": "nn.PReLU()",
    "elu": "nn.ELU()",
    "gelu": "nn.GELU()",
    "tanh": "nn.Tanh()",
    "sigmoid": "nn.Sigmoid()",
    "linear": "nn.Identity()",
}
FEATURE_EXPRESSIONS = {
    "x1": "x1",
    "x2": "x2",
    "x1_squared": "x1 * x1",
    "x2_squared": "x2 * x2",
    "x1x2": "x1 * x2",
    "sin_x1": "torch.sin(x1)",
    "sin_x2": "torch.sin(x2)",
}
INIT_CODE = {
    "default": """\
        bound = 1.0 / layer.in_features**0.5  # nn.Linear's own rule, from a seeded generator
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)""",
    "playground": """\
        layer.weight.uniform_(-0.5, 0.5, generator=generator)
        layer.bias.fill_(0.1)""",
    "xavier": """\
        nn.init.xavier_uniform_(layer.weight, generator=generator)
        layer.bias.zero_()""",
    "kaiming": """\
        nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu", generator=generator)
        layer.bias.zero_()""",
    "zeros": """\
        layer.weight.zero_()
        layer.bias.zero_()""",
}


@functools.lru_cache(maxsize=16)
def _source(generator: Callable[..., object]) -> str:
    """A generator's source: read from its file once (a script is exported on every change of
    settings, and inspect re-reads and re-tokenises the file each time)."""
    return inspect.getsource(generator).rstrip()


@dataclass(frozen=True)
class CodeExport:
    source: str
    # 1-based line of each phase in `source`.
    phase_lines: dict[Phase, int]


def export_training_script(
    config: LabConfig, steps: int = 1000, edits: Sequence[Surgery] = ()
) -> CodeExport:
    """A runnable script for `config`: same data, same seeds, same batches, same loop; the
    weights set and neurons switched by hand (`edits`) at the steps they were made."""
    source = "\n".join(
        [
            _header(config),
            _data_section(config),
            _model_section(config, edits),
            _training_section(config),
            _loop_section(config, steps, edits),
        ]
    )
    lines = source.splitlines()
    phase_lines = {}
    for phase in PHASES:
        prefix = PHASE_LINE_PREFIXES[phase]
        phase_lines[phase] = next(i + 1 for i, line in enumerate(lines) if line.startswith(prefix))
    return CodeExport(source, phase_lines)


def _header(config: LabConfig) -> str:
    return f'''\
"""Backprop Lab's training run as a script: {config.data.dataset}, hidden layers \
{list(config.model.hidden_layers)}, {config.training.optimizer}.

Needs only torch and numpy; same seeds, same data, same batches, so it prints the losses the
app computed, step by step: each step's batch loss, then the loss on all the training points
(the app's chart). `python train.py 20` runs 20 steps.
"""

import sys

import numpy as np
import torch
from torch import nn

torch.set_num_threads(1)
'''


def _data_section(config: LabConfig) -> str:
    d = config.data
    generator = datasets.GENERATORS[d.dataset]
    constants = [
        f"{name} = {getattr(datasets, name)!r}"
        for name in generator.__code__.co_names
        if name.isupper() and hasattr(datasets, name)
    ]
    if TASKS[datasets.task_of(d.dataset)].class_ids:
        labels = "y = torch.from_numpy(labels.astype(np.int64))"
    else:
        labels = "y = torch.from_numpy(labels.astype(np.float32)).unsqueeze(1)"
    features = list(config.model.features)
    if features == ["x1", "x2"]:
        inputs = "x = torch.from_numpy(np.ascontiguousarray(points))"
    else:
        stacked = ", ".join(FEATURE_EXPRESSIONS[f] for f in features)
        inputs = (
            "points_t = torch.from_numpy(np.ascontiguousarray(points))\n"
            "x1, x2 = points_t[:, 0], points_t[:, 1]\n"
            f"x = torch.stack([{stacked}], dim=1)  # the input features"
        )
    return "\n".join(
        [
            "# ---- data: the app's own generator, copied from app/training/datasets.py ----",
            f"INPUT_EXTENT = {datasets.INPUT_EXTENT!r}",
            *constants,
            "",
            "",
            _source(generator),
            "",
            "",
            f"rng = np.random.default_rng({d.seed})",
            f"points, labels = {generator.__name__}({d.n_points}, {d.noise!r}, rng)",
            "order = rng.permutation(len(points))",
            "points, labels = points[order], labels[order]",
            "points = np.clip(points, -INPUT_EXTENT, INPUT_EXTENT).astype(np.float32)",
            f"n_train = max(1, min(len(points) - 1, round(len(points) * {d.train_fraction!r})))",
            inputs,
            labels,
            "train_x, train_y = x[:n_train], y[:n_train]",
            "",
        ]
    )


def _model_section(config: LabConfig, edits: Sequence[Surgery]) -> str:
    m = config.model
    n_outputs = TASKS[datasets.task_of(config.data.dataset)].n_outputs
    sizes = [len(m.features), *m.hidden_layers, n_outputs]
    modules = []
    hidden_outputs = []  # index in the Sequential of each hidden layer's last module
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        modules.append(f"    nn.Linear({a}, {b}),")
        if i < len(m.hidden_layers):
            activation = m.activations_per_layer()[i]
            if activation != "linear":
                modules.append(f"    {ACTIVATION_MODULES[activation]},")
            hidden_outputs.append(len(modules) - 1)
    lines = [
        "# ---- model ----",
        "model = nn.Sequential(",
        *modules,
        ")",
        "linears = [layer for layer in model if isinstance(layer, nn.Linear)]",
        f"generator = torch.Generator().manual_seed({m.seed})",
        "with torch.no_grad():",
        "    for layer in linears:",
        INIT_CODE[m.init],
    ]
    if m.frozen_layers:
        lines += [
            f"for i in {sorted(m.frozen_layers)!r}:  # frozen: no gradient, no update",
            "    linears[i].requires_grad_(False)",
        ]
    switched = sorted({e.layer for e in edits if isinstance(e, NeuronSwitch)})
    if switched:
        # Before the penalty's hooks: a hook's returned output is what later hooks receive.
        widths = {i: m.hidden_layers[i] for i in switched}
        lines += [
            "# neurons switched off by hand: their outputs are multiplied by 0",
            f"masks = {{i: torch.ones(n) for i, n in {widths!r}.items()}}",
            *(
                f"model[{hidden_outputs[i]}].register_forward_hook("
                f"lambda module, inputs, out: out * masks[{i}])"
                for i in switched
            ),
        ]
    if _activation_penalty(config):
        lines += [
            "hidden = []  # each hidden layer's output in the latest forward, for the penalty",
            f"for i in {hidden_outputs!r}:",
            "    model[i].register_forward_hook(lambda module, inputs, out: hidden.append(out))",
        ]
    return "\n".join([*lines, ""])


def _activation_penalty(config: LabConfig) -> bool:
    t = config.training
    return t.activation_penalty != "none" and t.activation_penalty_strength > 0


def _training_section(config: LabConfig) -> str:
    t = config.training
    task = TASKS[datasets.task_of(config.data.dataset)]
    lines = [
        "# ---- loss, optimizer, schedule ----",
        f"loss_fn = nn.{task.loss_name}()",
        *optimizer_lines(t),
    ]
    seed = batch_seed(config.data.seed, config.model.seed)
    lines += [
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
        f"batch_indices = batches(n_train, min({t.batch_size}, n_train), seed={seed})",
        "",
    ]
    return "\n".join(lines)


def _surgery_lines(edits: Sequence[Surgery]) -> list[str]:
    """At the top of the loop: each edit made by hand before the step it came before."""
    lines: list[str] = []
    for step in sorted({e.step for e in edits}):
        lines.append(f"    if step == {step}:  # edited by hand in the app")
        for e in (e for e in edits if e.step == step):
            if isinstance(e, WeightEdit):
                lines += [
                    "        with torch.no_grad():",
                    f"            linears[{e.layer}].weight[{e.out_neuron}, {e.in_neuron}]"
                    f" = {e.value!r}",
                ]
            else:
                state = "on" if e.on else "off"
                lines.append(
                    f"        masks[{e.layer}][{e.neuron}] = {float(e.on)!r}  # neuron {state}"
                )
    return lines


def _loop_section(config: LabConfig, steps: int, edits: Sequence[Surgery]) -> str:
    t = config.training
    loss = "    loss = loss_fn(output, y)"
    forward = ["    output = model(x)"]
    if t.l1 > 0:
        loss += f" + {t.l1!r} * sum(p.abs().sum() for p in model.parameters())"
    if _activation_penalty(config):
        forward.insert(0, "    hidden.clear()")
        size = "abs()" if t.activation_penalty == "l1" else "pow(2)"
        strength = t.activation_penalty_strength
        loss += f" + {strength!r} * sum(h.{size}.sum() for h in hidden) / len(x)"
    before_step = []
    if t.grad_clip_norm:  # None or 0 means no clipping
        before_step.append(
            "    torch.nn.utils.clip_grad_norm_("
            f"[p for p in model.parameters() if p.grad is not None], {t.grad_clip_norm!r})"
        )
    after_step = ["    scheduler.step()"] if "scheduler = " in _training_section(config) else []
    return "\n".join(
        [
            "# ---- the training loop: the tutorial's five lines ----",
            f"steps = int(sys.argv[1]) if len(sys.argv) > 1 else {steps}",
            "for step in range(steps):",
            *_surgery_lines(edits),
            "    indices = next(batch_indices)",
            "    x, y = train_x[indices], train_y[indices]",
            "    optimizer.zero_grad()",
            *forward,
            loss,
            "    loss.backward()",
            *before_step,
            "    optimizer.step()",
            *after_step,
            "    with torch.no_grad():  # on all training points, as the app's loss chart shows it",
            "        train_loss = loss_fn(model(train_x), train_y).item()",
            '    print(f"step {step + 1}: loss {loss.item():.9f} | training set {train_loss:.9f}")',
            "",
        ]
    )


def optimizer_lines(t: TrainingConfig) -> list[str]:
    """`optimizer = …` and, unless the rate is constant, `scheduler = …`: read back from the
    objects the app builds, so every keyword the app passes is in the script."""
    probe = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = build_optimizer(t.optimizer, probe, t)
    call = constructor_call(optimizer, optimizer.defaults, "model.parameters()")
    lines = [f"optimizer = torch.optim.{call}"]
    schedule = scheduler_call(build_scheduler(optimizer, t))
    if schedule:
        lines.append(f"scheduler = torch.optim.lr_scheduler.{schedule}")
    return lines


def constructor_call(instance: object, values: dict[str, object], first: str) -> str:
    """`Class(first, k=v, …)` with every keyword whose value differs from the class default."""
    cls = type(instance)
    arguments = [first]
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name not in values or name in ("self", "params", "optimizer"):
            continue
        value = values[name]
        if (
            name == "lr"
            or parameter.default is inspect.Parameter.empty
            or value != parameter.default
        ):
            arguments.append(f"{name}={value!r}")
    return f"{cls.__name__}({', '.join(arguments)})"


def scheduler_call(scheduler: object) -> str | None:
    if type(scheduler).__name__ == "ConstantLR" and getattr(scheduler, "factor", None) == 1.0:
        return None  # a constant learning rate: no scheduler at all
    names = inspect.signature(type(scheduler).__init__).parameters
    # last_epoch is where the schedule stands, not a setting: a new run starts at its default.
    values = {
        n: getattr(scheduler, n) for n in names if hasattr(scheduler, n) and n != "last_epoch"
    }
    return constructor_call(scheduler, values, "optimizer")
