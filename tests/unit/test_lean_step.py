"""The engine's zero_grad/step without torch's per-call wrapping: the same numbers as the public
calls, and the public calls whenever the wrapping would do something (a hook, a profiler)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from app.training.config import TrainingConfig
from app.training.lean_step import clear_gradients, optimizer_step, unwrapped_step
from app.training.optimizers import OptimizerName, build_optimizer

OPTIMIZERS: list[OptimizerName] = ["sgd", "adam", "adamw", "rmsprop", "adagrad"]


def run(name: OptimizerName, lean: bool, steps: int = 40) -> tuple[nn.Module, dict]:
    """`steps` steps of a 2→[5,3]→1 net with momentum/decay on, scheduled, lean or public."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1))
    t = TrainingConfig(optimizer=name, learning_rate=0.05, momentum=0.9, weight_decay=1e-3)
    optimizer = build_optimizer(name, model.parameters(), t)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
    x, y = torch.randn(64, 2), torch.randn(64, 1)
    for step in range(steps):
        batch = slice(step % 8 * 8, step % 8 * 8 + 8)
        if lean:
            clear_gradients(optimizer)
        else:
            optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[batch]), y[batch])
        loss.backward()
        if lean:
            optimizer_step(optimizer)
        else:
            optimizer.step()
        scheduler.step()
    return model, optimizer.state_dict()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_lean_steps_equal_the_public_calls_weights_and_state_bit_for_bit(
    name: OptimizerName,
) -> None:
    public_model, public_state = run(name, lean=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
        lean_model, lean_state = run(name, lean=True)
    for a, b in zip(public_model.parameters(), lean_model.parameters(), strict=True):
        assert torch.equal(a, b)
        assert a.grad is not None and torch.equal(a.grad, b.grad)  # type: ignore[arg-type]
    for key, state in public_state["state"].items():
        for field, value in state.items():
            lean_value = lean_state["state"][key][field]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(lean_value))


def test_after_its_first_step_the_wrapper_is_skipped() -> None:
    """Guards the speed: a torch whose wrapper changed would silently take the slow path."""
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    model(torch.ones(1, 2)).sum().backward()
    assert unwrapped_step(optimizer) is None, "the scheduler's wrapper must see the first step"
    optimizer_step(optimizer)
    assert unwrapped_step(optimizer) is not None


def test_a_registered_step_hook_still_runs() -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    calls: list[str] = []
    optimizer.register_step_pre_hook(lambda *_: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *_: calls.append("post"))
    for _ in range(3):
        clear_gradients(optimizer)
        model(torch.ones(1, 2)).sum().backward()
        optimizer_step(optimizer)
    assert calls == ["pre", "post"] * 3


def test_a_running_profiler_still_sees_the_optimizer_ranges() -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 2)).sum().backward()
    optimizer_step(optimizer)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        clear_gradients(optimizer)
        model(torch.ones(1, 2)).sum().backward()
        optimizer_step(optimizer)
    names = {event.name for event in prof.events()}
    assert "Optimizer.step#Adam.step" in names
    assert "Optimizer.zero_grad#Adam.zero_grad" in names


def test_clearing_leaves_no_gradient_like_zero_grad() -> None:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    clear_gradients(optimizer)
    assert all(p.grad is None for p in model.parameters())
