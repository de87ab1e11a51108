"""The model's toolkit: per-layer activations, input features, initialisation, freezing, tasks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from app.training.batches import BatchSampler
from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.datasets import make_dataset
from app.training.features import FeatureMap
from app.training.model import build_model
from app.training.session import TrainingSession


def lab(dataset: str = "circle", training: dict[str, object] | None = None, **model: object):  # type: ignore[no-untyped-def]
    return LabConfig(
        data=DataConfig(dataset=dataset, n_points=300, noise=0.05, seed=1),  # type: ignore[arg-type]
        model=ModelConfig(**{"hidden_layers": [6, 4], "seed": 2, **model}),  # type: ignore[arg-type]
        training=TrainingConfig(**(training or {})),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("relu", torch.relu),
        ("leaky_relu", lambda z: torch.where(z > 0, z, 0.01 * z)),
        ("elu", lambda z: torch.where(z > 0, z, torch.exp(z) - 1)),
        ("gelu", lambda z: 0.5 * z * (1 + torch.erf(z / math.sqrt(2)))),
        ("tanh", torch.tanh),
        ("sigmoid", torch.sigmoid),
        ("linear", lambda z: z),
        ("prelu", lambda z: torch.where(z > 0, z, 0.25 * z)),
    ],
)
def test_every_activation_computes_its_formula(name: str, function) -> None:  # type: ignore[no-untyped-def]
    model = build_model(2, [3], name, "default", 0)  # type: ignore[arg-type]
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(0)) * 3
    hidden = model.forward_all(x)[0]
    torch.testing.assert_close(hidden, function(model.layers[0](x)), rtol=1e-5, atol=1e-6)


def test_activations_are_chosen_per_layer_and_the_global_knob_sets_them_all() -> None:
    session = TrainingSession(lab(activation="tanh"))
    session.set_layer_activations(["relu", "gelu"])
    assert session.model.activations == ["relu", "gelu"]
    assert session.config.model.layer_activations == ["relu", "gelu"]
    session.set_activation("sigmoid")
    assert session.model.activations == ["sigmoid", "sigmoid"]
    assert session.config.model.layer_activations is None


def test_a_rebuild_keeps_per_layer_activations_and_pads_new_layers_with_the_global_one() -> None:
    session = TrainingSession(lab(activation="tanh", layer_activations=["elu"]))
    assert session.model.activations == ["elu", "tanh"]
    session.rebuild(model=session.config.model.model_copy(update={"hidden_layers": [3, 3, 3]}))
    assert session.model.activations == ["elu", "tanh", "tanh"]


def test_features_feed_the_network_what_their_names_say() -> None:
    points = torch.tensor([[1.0, 2.0], [-0.5, 3.0]])
    names = ["x1", "x2", "x1_squared", "x2_squared", "x1x2", "sin_x1", "sin_x2"]
    out = FeatureMap(names)(points)
    x1, x2 = points[:, 0], points[:, 1]
    expected = torch.stack([x1, x2, x1**2, x2**2, x1 * x2, torch.sin(x1), torch.sin(x2)], 1)
    assert torch.equal(out, expected)
    assert FeatureMap(["x1", "x2"])(points) is points, "the default features add no work"


def test_a_network_on_features_equals_hand_written_torch_on_the_feature_matrix() -> None:
    config = lab(features=["x1_squared", "x2_squared"], activation="relu")
    session = TrainingSession(config)
    assert session.model.layers[0].in_features == 2
    reference = build_model(2, [6, 4], "relu", "default", 2)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.03)
    batches = BatchSampler(len(session.data.train_x), 10, 1 * 1_000_003 + 2)
    for _ in range(30):
        session.train_step()
        idx = batches.next()
        x, y = session.data.train_x[idx], session.data.train_y[idx]
        features = torch.stack([x[:, 0] ** 2, x[:, 1] ** 2], dim=1)
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(reference(features), y).backward()
        optimizer.step()
    for got, want in zip(session.model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(got, want)


def test_the_squares_solve_the_circle_with_no_hidden_nonlinearity() -> None:
    session = TrainingSession(
        lab(features=["x1_squared", "x2_squared"], activation="linear", hidden_layers=[1])
    )
    session.set_training(learning_rate=0.01, optimizer="adam")
    result = session.burst(max_steps=1500)
    assert result.evaluation.test_accuracy > 0.95


@pytest.mark.parametrize("init", ["default", "xavier", "kaiming", "zeros", "playground"])
def test_the_same_seed_gives_the_same_weights_and_another_seed_others(init: str) -> None:
    a, b = TrainingSession(lab(init=init)), TrainingSession(lab(init=init))
    assert all(
        torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True)
    )
    if init not in ("zeros", "playground"):
        c = TrainingSession(lab(init=init, seed=3))
        assert not torch.equal(a.model.layers[0].weight, c.model.layers[0].weight)


def test_zero_initialisation_never_breaks_the_symmetry() -> None:
    session = TrainingSession(lab(init="zeros", activation="tanh"))
    session.burst(max_steps=200)
    for layer in session.model.layers[:-1]:
        w = layer.weight.detach()
        assert torch.equal(w, w[:1].expand_as(w)), "every neuron of a layer stays identical"


def test_a_frozen_layer_stays_bit_identical_and_shows_no_gradient() -> None:
    session = TrainingSession(lab(training={"optimizer": "adam", "weight_decay": 0.1}))
    session.set_frozen_layers([0])
    frozen = [p.detach().clone() for p in session.model.layers[0].parameters()]
    others = [p.detach().clone() for p in session.model.layers[1].parameters()]
    session.burst(max_steps=50)
    assert all(
        torch.equal(p, q) for p, q in zip(session.model.layers[0].parameters(), frozen, strict=True)
    )
    assert not all(
        torch.equal(p, q) for p, q in zip(session.model.layers[1].parameters(), others, strict=True)
    )
    snapshot = session.layer_snapshots()
    assert snapshot[0].weight_grads is None and snapshot[1].weight_grads is not None
    session.set_frozen_layers([])
    session.burst(max_steps=5)
    assert not torch.equal(session.model.layers[0].weight, frozen[0]), "unfrozen, it learns"


def test_freezing_a_prelu_layer_freezes_its_slope_too() -> None:
    session = TrainingSession(lab(layer_activations=["prelu", "prelu"]))
    session.set_frozen_layers([1])
    session.burst(max_steps=30)
    assert session.model.prelu["1"].item() == 0.25
    assert session.model.prelu["0"].item() != 0.25


def test_same_seed_and_all_the_toolkit_on_give_a_bit_identical_run() -> None:
    def run() -> tuple[list[float], list[torch.Tensor]]:
        session = TrainingSession(
            lab(
                dataset="moons",
                features=["x1", "x2", "x1x2", "sin_x1"],
                layer_activations=["prelu", "gelu"],
                init="xavier",
                training={
                    "optimizer": "adamw",
                    "weight_decay": 0.01,
                    "l1": 0.001,
                    "activation_penalty": "l1",
                    "activation_penalty_strength": 0.001,
                    "grad_clip_norm": 1.0,
                    "schedule": "cosine",
                },
            )
        )
        losses = [session.train_step() for _ in range(150)]
        return losses, [p.detach().clone() for p in session.model.parameters()]

    (losses_a, params_a), (losses_b, params_b) = run(), run()
    assert losses_a == losses_b
    assert all(torch.equal(p, q) for p, q in zip(params_a, params_b, strict=True))


def test_three_blobs_train_with_softmax_and_cross_entropy() -> None:
    session = TrainingSession(lab("blobs", training={"learning_rate": 0.1}))
    assert session.data.task == "multiclass" and session.data.train_y.dtype == torch.int64
    assert session.model.layers[-1].out_features == 3
    assert isinstance(session.loss_fn, nn.CrossEntropyLoss)
    assert (session.loss_name, session.output_activation) == ("CrossEntropyLoss", "softmax")
    result = session.burst(max_steps=1500)
    assert result.evaluation.test_accuracy > 0.9
    grids = session.class_grids(8)
    assert grids.shape == (3, 8, 8)
    assert grids.sum(axis=0) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("dataset", ["plane", "sine"])
def test_regression_uses_mse_on_an_identity_output(dataset: str) -> None:
    session = TrainingSession(
        lab(dataset, activation="tanh", training={"learning_rate": 0.01, "optimizer": "adam"})
    )
    assert isinstance(session.loss_fn, nn.MSELoss)
    assert (session.loss_name, session.output_activation) == ("MSELoss", "identity")
    start = session.evaluate()
    assert math.isnan(start.train_accuracy), "regression has no accuracy"
    result = session.burst(max_steps=3000)
    assert result.evaluation.train_loss < start.train_loss / 4
    x1, curve = session.predict_curve(50)
    assert x1.shape == curve.shape == (50,)


def test_the_sine_lies_on_the_x1_axis_and_is_fitted_as_a_curve() -> None:
    data = make_dataset("sine", 200, 0.0, 0.5, seed=0)
    assert torch.equal(data.train_x[:, 1], torch.zeros(len(data.train_x)))
    torch.testing.assert_close(data.train_y[:, 0], torch.sin(data.train_x[:, 0]))


def test_two_moons_interleave_and_blobs_have_three_labels() -> None:
    moons = make_dataset("moons", 400, 0.0, 0.5, seed=0)
    assert set(moons.train_y.unique().tolist()) == {0.0, 1.0}
    blobs = make_dataset("blobs", 300, 0.1, 0.5, seed=0)
    assert set(torch.cat([blobs.train_y, blobs.test_y]).unique().tolist()) == {0, 1, 2}
