"""Phase stepping is the tutorial's step cut in five; every value shown is what torch computed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.phases import PHASES, PhaseStepper
from app.training.session import TrainingSession

OPTIMIZERS = [
    {"optimizer": "sgd", "learning_rate": 0.1},
    {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    {"optimizer": "adam", "learning_rate": 0.01},
    # Every seam in use: penalties in compute_loss, clipping before the step, a schedule after.
    {
        "optimizer": "adam",
        "learning_rate": 0.01,
        "weight_decay": 0.001,
        "l1": 0.001,
        "activation_penalty": "l2",
        "activation_penalty_strength": 0.01,
        "grad_clip_norm": 0.5,
        "schedule": "cosine",
        "schedule_steps": 20,
    },
]


def config(activation: str = "tanh", **training: object) -> LabConfig:
    return LabConfig(
        data=DataConfig(dataset="spiral", n_points=120, noise=0.1, seed=5),
        model=ModelConfig(hidden_layers=[5, 3], activation=activation, seed=11),  # type: ignore[arg-type]
        training=TrainingConfig(batch_size=8, **training),  # type: ignore[arg-type]
    )


def linears(session: TrainingSession) -> list[nn.Linear]:
    return [layer for layer in session.model.layers if isinstance(layer, nn.Linear)]


def grads(session: TrainingSession) -> list[torch.Tensor | None]:
    return [p.grad for p in session.model.parameters()]


def assert_same_state(a: TrainingSession, b: TrainingSession) -> None:
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
        assert (p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad)  # type: ignore[arg-type]
    state_a, state_b = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        for name, value in state_a[key].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(state_b[key][name])), name
    assert a.step_count == b.step_count
    assert a.sampler.samples_seen == b.sampler.samples_seen


@pytest.mark.parametrize(
    "training", OPTIMIZERS, ids=lambda t: "-".join(map(str, list(t.values())[:3]))
)
def test_five_phases_are_bit_for_bit_one_train_step(training: dict[str, object]) -> None:
    whole, phased = TrainingSession(config(**training)), TrainingSession(config(**training))
    stepper = PhaseStepper(phased)
    for _ in range(25):
        loss = whole.train_step()
        seen = [stepper.advance().done for _ in PHASES]
        assert seen == list(PHASES)
        assert stepper.record is not None and stepper.record.loss == loss
        assert phased.last_loss == loss
        assert_same_state(whole, phased)


def test_after_zero_grad_every_gradient_is_cleared() -> None:
    session = TrainingSession(config())
    session.train_step()
    assert all(g is not None for g in grads(session))
    record = PhaseStepper(session).advance()
    assert record.done == "zero_grad" and record.next == "forward"
    assert grads(session) == [None] * len(grads(session))


def test_forward_shows_each_neurons_batch_mean_z_and_a_as_torch_computes_them() -> None:
    session = TrainingSession(config(activation="relu"))
    reference = TrainingSession(config(activation="relu"))
    stepper = PhaseStepper(session)
    stepper.advance()
    record = stepper.advance()
    x, _ = reference.next_batch()
    assert record.activity is not None and len(record.activity) == 3
    a = x
    for i, layer in enumerate(linears(reference)):
        z = a @ layer.weight.T + layer.bias
        a = torch.relu(z) if i < 2 else z
        shown = record.activity[i]
        torch.testing.assert_close(torch.from_numpy(shown.pre_activations), z.mean(0))
        torch.testing.assert_close(torch.from_numpy(shown.activations), a.mean(0))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_backward_shows_each_neurons_batch_mean_dl_dz_as_retain_grad_has_it(
    activation: str,
) -> None:
    session = TrainingSession(config(activation=activation))
    reference = TrainingSession(config(activation=activation))
    stepper = PhaseStepper(session)
    for _ in range(3):
        assert stepper.advance().pre_activation_grads is None
    record = stepper.advance()
    assert record.done == "backward" and record.pre_activation_grads is not None
    # The same step by hand: a plain loop that keeps every pre-activation's .grad.
    x, y = reference.next_batch()
    act = torch.tanh if activation == "tanh" else torch.relu
    h, zs = reference.model.features(x), []
    for i, layer in enumerate(linears(reference)):
        z = layer(h)
        z.retain_grad()
        zs.append(z)
        h = act(z) if i < 2 else z
    nn.BCEWithLogitsLoss()(h, y).backward()
    assert len(record.pre_activation_grads) == len(zs) == 3
    for shown, z in zip(record.pre_activation_grads, zs, strict=True):
        assert shown is not None and z.grad is not None
        torch.testing.assert_close(torch.from_numpy(shown), z.grad.mean(0), rtol=1e-6, atol=1e-9)
    # Summed over the batch, ∂L/∂z is ∂L/∂b: the bias gradient autograd accumulated.
    for shown, layer in zip(record.pre_activation_grads, linears(session), strict=True):
        assert shown is not None and layer.bias.grad is not None
        torch.testing.assert_close(
            torch.from_numpy(shown) * len(x), layer.bias.grad, rtol=1e-5, atol=1e-8
        )


@pytest.mark.parametrize("training", OPTIMIZERS[:3], ids=lambda t: "-".join(map(str, t.values())))
def test_loss_gradients_and_updates_equal_a_plain_torch_loop(training: dict[str, object]) -> None:
    session = TrainingSession(config(**training))
    stepper = PhaseStepper(session)
    reference = TrainingSession(config(**training))
    model, optimizer = reference.model, reference.optimizer
    for _ in range(3):
        x, y = reference.next_batch()
        optimizer.zero_grad()
        output = model(x)
        loss = nn.BCEWithLogitsLoss()(output, y)
        loss.backward()
        expected_grads = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
        before = [p.detach().clone() for p in model.parameters()]
        optimizer.step()
        expected_deltas = [p.detach() - b for p, b in zip(model.parameters(), before, strict=True)]

        for _ in range(3):
            record = stepper.advance()
        assert record.done == "loss" and record.loss == loss.item()
        stepper.advance()
        for got, want in zip(grads(session), expected_grads, strict=True):
            assert got is not None and torch.equal(got, want)
        record = stepper.advance()
        assert record.updates is not None
        shown_deltas = [
            torch.from_numpy(d) for u in record.updates for d in (u.weight_deltas, u.bias_deltas)
        ]
        for got, want in zip(shown_deltas, expected_deltas, strict=True):
            assert torch.equal(got, want)
        shown_before = [
            torch.from_numpy(v) for u in record.updates for v in (u.weights_before, u.biases_before)
        ]
        for got, want in zip(shown_before, before, strict=True):
            assert torch.equal(got, want)


def test_plain_sgd_moves_every_weight_by_minus_lr_times_its_gradient() -> None:
    session = TrainingSession(config(optimizer="sgd", learning_rate=0.3))
    stepper = PhaseStepper(session)
    for _ in range(4):
        record = stepper.advance()
    gradients = [p.grad.clone() for p in session.model.parameters()]  # type: ignore[union-attr]
    record = stepper.advance()
    assert record.updates is not None
    deltas = [torch.from_numpy(d) for u in record.updates for d in (u.weight_deltas, u.bias_deltas)]
    for delta, gradient in zip(deltas, gradients, strict=True):
        torch.testing.assert_close(delta, -0.3 * gradient, rtol=1e-5, atol=1e-7)


def test_skipping_zero_grad_accumulates_gradients_across_steps() -> None:
    session = TrainingSession(config(optimizer="sgd", learning_rate=0.05))
    reference = TrainingSession(config(optimizer="sgd", learning_rate=0.05))
    stepper = PhaseStepper(session, skip_zero_grad=True)
    for _ in PHASES:
        stepper.advance()
    for _ in range(4):
        record = stepper.advance()
    assert record.done == "backward"
    model = reference.model
    total = [torch.zeros_like(p) for p in model.parameters()]
    for _ in range(2):
        x, y = reference.next_batch()
        reference.optimizer.zero_grad()
        nn.BCEWithLogitsLoss()(model(x), y).backward()
        total = [t + p.grad for t, p in zip(total, model.parameters(), strict=True)]  # type: ignore[operator]
        reference.optimizer.step()
    for got, want in zip(grads(session), total, strict=True):
        torch.testing.assert_close(got, want)
    assert record.zero_grad_skipped


def test_finishing_a_half_done_step_equals_one_train_step() -> None:
    whole, phased = TrainingSession(config()), TrainingSession(config())
    stepper = PhaseStepper(phased)
    stepper.advance()
    stepper.advance()
    assert stepper.pending and stepper.next_phase == "loss"
    assert stepper.finish_step()
    assert not stepper.pending and not stepper.finish_step()
    whole.train_step()
    assert_same_state(whole, phased)


def test_a_rebuild_or_a_full_step_makes_the_shown_phase_stale() -> None:
    session = TrainingSession(config())
    stepper = PhaseStepper(session)
    stepper.advance()
    assert stepper.current() is not None
    session.reset()
    assert stepper.current() is None and not stepper.pending
    assert stepper.next_phase == "zero_grad"
    for _ in PHASES:
        stepper.advance()
    assert stepper.current() is not None
    session.train_step()
    assert stepper.current() is None
