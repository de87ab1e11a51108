"""λmax by Hessian-vector products against the dense Hessian, the stability limit, and the edge
of stability that full-batch gradient descent reaches."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from app.training.config import LabConfig
from app.training.curvature import (
    compute_curvature,
    largest_eigenvalue,
    stability_limit,
    take_curvature_input,
)
from app.training.trainer import TrainingSession


def dense_lambda_max(session: TrainingSession) -> float:
    """The largest eigenvalue of torch's own dense Hessian over the flattened parameters."""
    model = session.model
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in model.parameters() if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
    x, y = session.data.train_x, session.data.train_y

    def loss(theta: torch.Tensor) -> torch.Tensor:
        params, at = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            size = shape.numel()
            params[name] = theta[at : at + size].reshape(shape)
            at += size
        out: torch.Tensor = session.loss_fn(functional_call(model, params, (x,)), y)
        return out

    hessian = torch.autograd.functional.hessian(loss, flat)
    return float(torch.linalg.eigvalsh(hessian.double()).max())


def session_of(**settings: object) -> TrainingSession:
    return TrainingSession(LabConfig.model_validate(settings))


@pytest.mark.parametrize("dataset", ["circle", "sine", "blobs"])
def test_lambda_max_equals_the_dense_hessians_largest_eigenvalue(dataset: str) -> None:
    session = session_of(data={"dataset": dataset, "n_points": 60}, model={"hidden_layers": [4, 3]})
    session.train_steps(50)
    found = compute_curvature(take_curvature_input(session), iterations=500)
    expected = dense_lambda_max(session)
    assert found.lambda_max == pytest.approx(expected, rel=1e-3)


def test_a_negative_dominant_eigenvalue_does_not_hide_the_largest() -> None:
    # loss = −2a² + 0.5b²: the eigenvalue largest in size is −4, the largest is 1.
    ab = torch.tensor([0.3, -0.7], requires_grad=True)
    loss = -2 * ab[0] ** 2 + 0.5 * ab[1] ** 2
    value, _ = largest_eigenvalue(loss, [ab], iterations=200)
    assert value == pytest.approx(1.0, rel=1e-4)


def test_the_stability_limit_is_two_over_the_rate_and_momentum_raises_it() -> None:
    assert stability_limit("sgd", 0.1, 0.0) == pytest.approx(20.0)
    assert stability_limit("sgd", 0.1, 0.9) == pytest.approx(38.0)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "adagrad"])
def test_adaptive_optimizers_have_no_stability_line(optimizer: str) -> None:
    assert stability_limit(optimizer, 0.1, 0.0) is None
    assert stability_limit("sgd", 0.1, 0.9, nesterov=True) is None


def test_the_copy_is_untouched_by_training_on() -> None:
    session = session_of()
    job = take_curvature_input(session)
    before = compute_curvature(job).lambda_max
    session.train_steps(20)
    assert compute_curvature(job).lambda_max == before
    assert job.step == 0


# The edge-of-stability lesson (static/js/lessonsDeeper.js): regression on the sine, 2→[8,8]→1
# tanh, all 100 training points in each batch (plain gradient descent).
def full_batch(learning_rate: float) -> TrainingSession:
    return session_of(
        data={"dataset": "sine", "n_points": 200},
        model={"hidden_layers": [8, 8]},
        training={"learning_rate": learning_rate, "batch_size": 100},
    )


def test_full_batch_descent_sharpens_until_lambda_max_hovers_at_two_over_the_rate() -> None:
    session = full_batch(0.05)
    start = compute_curvature(take_curvature_input(session))
    assert start.lambda_max < 0.5 * 40.0
    assert session.train_steps(600) is None, "the lesson's run must not stop as diverged"
    end = compute_curvature(take_curvature_input(session), iterations=100)
    assert end.stability_limit == pytest.approx(40.0)
    assert end.lambda_max == pytest.approx(40.0, rel=0.2)


def test_a_far_too_high_rate_starts_above_its_limit() -> None:
    curvature = compute_curvature(take_curvature_input(full_batch(1.0)))
    assert curvature.stability_limit is not None
    assert curvature.lambda_max > curvature.stability_limit
