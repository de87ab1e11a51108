"""Each optimizer, schedule and regulariser makes exactly the update hand-written torch makes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import lr_scheduler

from app.training.batches import BatchSampler
from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.model import build_model
from app.training.session import TrainingSession

Params = list[nn.Parameter]
OptimizerFactory = Callable[[Params], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], lr_scheduler.LRScheduler | None]


def lab(**training: object) -> LabConfig:
    return LabConfig(
        data=DataConfig(dataset="circle", n_points=200, noise=0.1, seed=3),
        model=ModelConfig(hidden_layers=[5, 3], activation="tanh", seed=7),
        training=TrainingConfig(batch_size=8, **training),
    )


@dataclass
class Case:
    """A training config and the torch code a learner would write for it."""

    training: dict[str, object]
    optimizer: OptimizerFactory
    scheduler: SchedulerFactory = lambda o: None  # noqa: E731
    l1: float = 0.0
    activation_l1: float = 0.0
    activation_l2: float = 0.0
    clip: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


CASES = {
    "sgd": Case({"learning_rate": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd momentum": Case(
        {"learning_rate": 0.05, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "sgd nesterov": Case(
        {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "adam fused": Case(
        {"optimizer": "adam", "learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99},
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), fused=True),
    ),
    "adamw fused with decoupled decay": Case(
        {"optimizer": "adamw", "learning_rate": 0.01, "weight_decay": 0.1},
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, fused=True),
    ),
    "rmsprop": Case(
        {"optimizer": "rmsprop", "learning_rate": 0.003, "alpha": 0.9, "momentum": 0.5},
        lambda p: torch.optim.RMSprop(p, lr=0.003, alpha=0.9, momentum=0.5),
    ),
    "adagrad": Case(
        {"optimizer": "adagrad", "learning_rate": 0.1},
        lambda p: torch.optim.Adagrad(p, lr=0.1),
    ),
    "l2 as weight decay": Case(
        {"learning_rate": 0.1, "weight_decay": 0.01},
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01),
    ),
    "step schedule": Case(
        {"learning_rate": 0.3, "schedule": "step", "schedule_step_size": 7, "schedule_gamma": 0.5},
        lambda p: torch.optim.SGD(p, lr=0.3),
        lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
    ),
    "exponential schedule": Case(
        {"learning_rate": 0.3, "schedule": "exponential", "schedule_gamma": 0.97},
        lambda p: torch.optim.SGD(p, lr=0.3),
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.97),
    ),
    "cosine schedule with adam": Case(
        {"optimizer": "adam", "learning_rate": 0.02, "schedule": "cosine", "schedule_steps": 25},
        lambda p: torch.optim.Adam(p, lr=0.02, fused=True),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=25),
    ),
    "linear warm-up": Case(
        {"learning_rate": 0.1, "schedule": "warmup", "schedule_steps": 20},
        lambda p: torch.optim.SGD(p, lr=0.1),
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=20),
    ),
    "l1 penalty": Case(
        {"learning_rate": 0.1, "l1": 0.003},
        lambda p: torch.optim.SGD(p, lr=0.1),
        l1=0.003,
    ),
    "activation l1": Case(
        {"learning_rate": 0.1, "activation_penalty": "l1", "activation_penalty_strength": 0.01},
        lambda p: torch.optim.SGD(p, lr=0.1),
        activation_l1=0.01,
    ),
    "activation l2": Case(
        {"learning_rate": 0.1, "activation_penalty": "l2", "activation_penalty_strength": 0.02},
        lambda p: torch.optim.SGD(p, lr=0.1),
        activation_l2=0.02,
    ),
    "gradient clipping": Case(
        {"learning_rate": 1.0, "grad_clip_norm": 0.05},
        lambda p: torch.optim.SGD(p, lr=1.0),
        clip=0.05,
    ),
    "everything at once": Case(
        {
            "optimizer": "adamw",
            "learning_rate": 0.02,
            "weight_decay": 0.05,
            "l1": 0.001,
            "activation_penalty": "l2",
            "activation_penalty_strength": 0.01,
            "grad_clip_norm": 0.5,
            "schedule": "cosine",
            "schedule_steps": 30,
        },
        lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.05, fused=True),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=30),
        l1=0.001,
        activation_l2=0.01,
        clip=0.5,
    ),
}


def hand_written_run(config: LabConfig, case: Case, steps: int) -> tuple[Params, list[float]]:
    """The tutorial's loop, spelt out: the penalties and clipping written inline."""
    data = TrainingSession(config).data
    m = config.model
    model = build_model(2, list(m.hidden_layers), "tanh", m.init, m.seed)
    first, second, out = model.layers
    optimizer = case.optimizer(list(model.parameters()))
    scheduler = case.scheduler(optimizer)
    batches = BatchSampler(len(data.train_x), 8, config.data.seed * 1_000_003 + m.seed)
    loss_fn = nn.BCEWithLogitsLoss()
    learning_rates = []
    for _ in range(steps):
        idx = batches.next()
        x, y = data.train_x[idx], data.train_y[idx]
        optimizer.zero_grad()
        h1 = torch.tanh(first(x))
        h2 = torch.tanh(second(h1))
        output = out(h2)
        loss = loss_fn(output, y)
        if case.l1:
            loss = loss + case.l1 * sum(p.abs().sum() for p in model.parameters())
        if case.activation_l1:
            loss = loss + case.activation_l1 * (h1.abs().sum() + h2.abs().sum()) / len(x)
        if case.activation_l2:
            loss = loss + case.activation_l2 * (h1.pow(2).sum() + h2.pow(2).sum()) / len(x)
        loss.backward()
        if case.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), case.clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        learning_rates.append(optimizer.param_groups[0]["lr"])
    return list(model.parameters()), learning_rates


@pytest.mark.parametrize("name", CASES)
def test_the_engine_makes_exactly_the_hand_written_update(name: str) -> None:
    case = CASES[name]
    config = lab(**case.training)
    session = TrainingSession(config)
    learning_rates = []
    for _ in range(40):
        session.train_step()
        learning_rates.append(session.learning_rate)
    expected, expected_rates = hand_written_run(config, case, 40)
    assert learning_rates == expected_rates
    for got, want in zip(session.model.parameters(), expected, strict=True):
        assert torch.equal(got, want), name


def test_the_schedules_follow_their_textbook_formulas() -> None:
    def rates(**training: object) -> list[float]:
        session = TrainingSession(lab(**training))
        out = [session.learning_rate]
        for _ in range(10):
            session.train_step()
            out.append(session.learning_rate)
        return out

    assert rates(learning_rate=0.1) == [0.1] * 11
    step = rates(learning_rate=0.1, schedule="step", schedule_step_size=4, schedule_gamma=0.5)
    assert step == pytest.approx([0.1] * 4 + [0.05] * 4 + [0.025] * 3)
    exponential = rates(learning_rate=0.1, schedule="exponential", schedule_gamma=0.9)
    assert exponential == pytest.approx([0.1 * 0.9**t for t in range(11)])
    cosine = rates(learning_rate=0.1, schedule="cosine", schedule_steps=10)
    assert cosine[0] == pytest.approx(0.1) and cosine[5] == pytest.approx(0.05)
    assert cosine[10] == pytest.approx(0.0, abs=1e-12)
    warmup = rates(learning_rate=0.1, schedule="warmup", schedule_steps=10)
    assert warmup[0] == pytest.approx(0.001) and warmup[10] == pytest.approx(0.1)
    assert warmup == sorted(warmup)


def test_the_loss_history_records_the_effective_learning_rate() -> None:
    session = TrainingSession(
        lab(learning_rate=0.1, schedule="step", schedule_step_size=5, schedule_gamma=0.1)
    )
    session.burst(max_steps=5)
    session.burst(max_steps=5)
    assert [r.learning_rate for r in session.history] == pytest.approx([0.1, 0.01, 0.001])


def test_the_penalty_terms_equal_a_hand_computation() -> None:
    session = TrainingSession(
        lab(l1=0.5, activation_penalty="l2", activation_penalty_strength=0.25)
    )
    with torch.no_grad():
        for p in session.model.parameters():
            p.fill_(0.1)
            hidden = [torch.tensor([[1.0, -2.0], [3.0, 0.0]]), torch.tensor([[0.5], [-0.5]])]
        penalty = float(session.penalty(hidden, batch_size=2))
        session.set_training(activation_penalty="l1")
        penalty_l1 = float(session.penalty(hidden, batch_size=2))
    # L1: 0.5 · 0.1 · (#parameters); L2 on activations: 0.25 · (1+4+9+0 + 0.25+0.25) / 2 rows.
    n_parameters = sum(p.numel() for p in session.model.parameters())
    expected = 0.5 * 0.1 * n_parameters + 0.25 * 14.5 / 2
    assert penalty == pytest.approx(expected, rel=1e-6)
    assert penalty_l1 == pytest.approx(0.5 * 0.1 * n_parameters + 0.25 * 7.0 / 2, rel=1e-6)


def test_the_chart_separates_the_data_loss_from_the_penalty() -> None:
    plain = TrainingSession(lab())
    penalised = TrainingSession(lab(weight_decay=0.2, l1=0.01))
    a, b = plain.evaluate(), penalised.evaluate()
    assert a.train_penalty == 0.0
    assert b.train_loss == a.train_loss, "the data loss does not include the penalty"
    squares = sum(float(p.detach().pow(2).sum()) for p in plain.model.parameters())
    absolutes = sum(float(p.detach().abs().sum()) for p in plain.model.parameters())
    assert b.train_penalty == pytest.approx(0.1 * squares + 0.01 * absolutes, rel=1e-5)
    adamw = TrainingSession(lab(optimizer="adamw", weight_decay=0.2))
    assert adamw.evaluate().train_penalty == 0.0, "AdamW's decay is no loss term"


def test_clipping_bounds_the_gradient_norm_between_backward_and_step() -> None:
    session = TrainingSession(lab(learning_rate=1.0, grad_clip_norm=0.01))
    x, y = session.next_batch()
    session.optimizer.zero_grad()
    loss = session.compute_loss(session.model(x), y)
    loss.backward()
    session.before_optimizer_step()
    grads = [p.grad for p in session.model.parameters() if p.grad is not None]
    assert session.last_grad_norm is not None and session.last_grad_norm > 0.01
    assert float(torch.cat([g.flatten() for g in grads]).norm()) == pytest.approx(0.01, rel=1e-4)


def test_live_knobs_keep_the_weights_and_the_optimizer_state() -> None:
    session = TrainingSession(lab(learning_rate=0.05, momentum=0.9))
    session.burst(max_steps=20)
    weights = [p.detach().clone() for p in session.model.parameters()]
    optimizer, buffers = session.optimizer, len(session.optimizer.state)
    session.set_training(weight_decay=0.01, nesterov=True, momentum=0.5, l1=0.001)
    assert session.optimizer is optimizer and len(optimizer.state) == buffers
    group = optimizer.param_groups[0]
    assert (group["weight_decay"], group["nesterov"], group["momentum"]) == (0.01, True, 0.5)
    assert all(torch.equal(p, w) for p, w in zip(session.model.parameters(), weights, strict=True))
    session.set_training(optimizer="rmsprop", alpha=0.95)
    assert isinstance(session.optimizer, torch.optim.RMSprop)
    assert session.optimizer.param_groups[0]["alpha"] == 0.95
    assert all(torch.equal(p, w) for p, w in zip(session.model.parameters(), weights, strict=True))


def test_a_knob_outside_its_limits_is_refused_by_the_engine_too() -> None:
    session = TrainingSession(lab())
    with pytest.raises(ValueError):
        session.set_training(weight_decay=-1.0)
    with pytest.raises(ValueError):
        session.set_training(grad_clip_norm=-1.0)
    assert session.config.training.weight_decay == 0.0


def test_a_new_learning_rate_restarts_the_schedule_from_the_current_step() -> None:
    session = TrainingSession(lab(learning_rate=0.1, schedule="warmup", schedule_steps=10))
    session.burst(max_steps=15)
    assert session.learning_rate == pytest.approx(0.1)
    session.set_training(learning_rate=0.2)
    assert session.learning_rate == pytest.approx(0.002), "warm-up starts again"


def test_a_divergence_restores_the_schedule_with_the_weights() -> None:
    session = TrainingSession(lab(learning_rate=10.0, schedule="exponential", schedule_gamma=0.9))
    session.set_activation("linear")
    result = session.burst(max_steps=500)
    assert result.divergence is not None
    assert session.learning_rate == pytest.approx(10.0 * 0.9**session.step_count)


def test_prelu_matches_nn_prelu_and_learns_its_slope() -> None:
    config = lab(learning_rate=0.1)
    session = TrainingSession(config)
    session.set_layer_activations(["prelu", "tanh"])
    reference = build_model(2, [5, 3], "tanh", "default", 7)
    prelu = nn.PReLU()
    optimizer = torch.optim.SGD([*reference.parameters(), *prelu.parameters()], lr=0.1)
    batches = BatchSampler(len(session.data.train_x), 8, 3 * 1_000_003 + 7)
    for _ in range(30):
        session.train_step()
        idx = batches.next()
        x, y = session.data.train_x[idx], session.data.train_y[idx]
        optimizer.zero_grad()
        first, second, out = reference.layers
        output = out(torch.tanh(second(prelu(first(x)))))
        F.binary_cross_entropy_with_logits(output, y).backward()
        optimizer.step()
    slope = session.model.prelu["0"]
    assert torch.equal(slope, prelu.weight)
    assert slope.item() != 0.25, "the slope is learnt"
    assert session.prelu_slopes()[0] == slope.item() and session.prelu_slopes()[1] is None
    for got, want in zip(session.model.layers.parameters(), reference.parameters(), strict=True):
        assert torch.equal(got, want)
