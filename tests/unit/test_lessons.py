"""Every lesson does what its card says: each is run as the card tells (its configuration and
seed, Run N steps for its N), and the card's claim is checked on the engine. The lessons are read
from the page's own table (static/js/lessons.js)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from app.training.config import LabConfig
from app.training.curvature import compute_curvature, take_curvature_input
from app.training.grad_health import health_report
from app.training.phases import PhaseStepper
from app.training.session import BurstResult, TrainingSession
from tests.support.lessons import lessons

Lesson = dict[str, Any]
TABLE = {lesson["id"]: lesson for lesson in lessons()}


def session(lesson: Lesson, **changes: Any) -> TrainingSession:
    """The lesson's run, with `changes` made as the card's "Try" says (a section's fields)."""
    config = LabConfig.model_validate(lesson["config"])
    for section, fields in changes.items():
        part = getattr(config, section).model_copy(update=fields)
        config = config.model_copy(update={section: part})
    return TrainingSession(LabConfig.model_validate(config.model_dump()))


def run(s: TrainingSession, steps: int) -> BurstResult:
    """Run N steps, as the page's control does: exactly `steps` more steps."""
    return s.burst(steps)


def dead_units(s: TrainingSession) -> list[int]:
    return health_report(s.model, s.data.train_x, None).units.dead_units


def flags(s: TrainingSession) -> set[str]:
    report = health_report(s.model, s.data.train_x, s.history[-1].gradients)
    return {flag.kind for flag in report.flags}


def mean_weight_gradients(s: TrainingSession) -> list[float]:
    grads = [layer.weight.grad for layer in linears(s)]
    return [float(g.abs().mean()) for g in grads if g is not None]


def linears(s: TrainingSession) -> list[torch.nn.Linear]:
    return [m for m in s.model.modules() if isinstance(m, torch.nn.Linear)]


def learning_rate_too_high(lesson: Lesson) -> None:
    result = run(session(lesson), lesson["steps"])
    assert result.divergence is not None
    assert "rose above twice" in result.divergence.reason
    stated = re.search(r"at step (\d+)", lesson["card"])
    assert stated and int(stated.group(1)) == result.divergence.step


def vanishing_gradients(lesson: Lesson) -> None:
    s = session(lesson)
    run(s, lesson["steps"])
    gradients = mean_weight_gradients(s)
    assert gradients[0] < gradients[-1] / 1000
    assert "vanishing" in flags(s)


def dead_relus(lesson: Lesson) -> None:
    s = session(lesson)
    run(s, 100)
    width = lesson["config"]["model"]["hidden_layers"][1]
    assert dead_units(s)[1] == width
    result = run(s, lesson["steps"] - 100)
    assert result.divergence is None
    assert "dead_relu" in flags(s)
    assert abs(result.evaluation.train_loss - 0.69) < 0.02
    healthy = session(lesson, training={"learning_rate": 0.1})
    assert run(healthy, lesson["steps"]).evaluation.train_loss < 0.05
    assert sum(dead_units(healthy)) == 0


def momentum(lesson: Lesson) -> None:
    assert run(session(lesson), lesson["steps"]).evaluation.train_loss > 0.6
    with_momentum = session(lesson, training={"momentum": 0.9})
    assert run(with_momentum, lesson["steps"]).evaluation.train_loss < 0.15


def adam_ravine(lesson: Lesson) -> None:
    assert run(session(lesson), lesson["steps"]).evaluation.train_loss < 0.05
    sgd = session(lesson, training={"optimizer": "sgd", "learning_rate": 0.003})
    assert run(sgd, lesson["steps"]).evaluation.train_loss > 0.2


def gradient_norms_after_backward(lesson: Lesson, skip_zero_grad: bool) -> list[float]:
    s = session(lesson)
    stepper = PhaseStepper(s, skip_zero_grad=skip_zero_grad)
    norms: list[float] = []
    while len(norms) < 3:
        if stepper.advance().done == "backward":
            grads = [p.grad for p in s.model.parameters() if p.grad is not None]
            norms.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))
    return norms


def zero_grad(lesson: Lesson) -> None:
    assert lesson["view"]["skipZeroGrad"] is True
    growing = gradient_norms_after_backward(lesson, skip_zero_grad=True)
    assert growing[0] < growing[1] < growing[2]
    own = gradient_norms_after_backward(lesson, skip_zero_grad=False)
    assert own[0] == growing[0]
    assert own[2] < 0.75 * growing[2]


def activation_regularisation(lesson: Lesson) -> None:
    s = session(lesson)
    start = s.history[0].train
    result = run(s, lesson["steps"])
    assert sum(dead_units(s)) >= 2
    assert result.evaluation.train_loss < start / 2
    unpenalised = session(lesson, training={"activation_penalty_strength": 0.0})
    run(unpenalised, lesson["steps"])
    assert sum(dead_units(unpenalised)) == 0
    strong = session(lesson, training={"activation_penalty_strength": 0.3})
    result = run(strong, lesson["steps"])
    assert dead_units(strong) == lesson["config"]["model"]["hidden_layers"]
    assert result.evaluation.train_loss > 0.68


def zero_initialisation(lesson: Lesson) -> None:
    s = session(lesson)
    result = run(s, lesson["steps"])
    for layer in linears(s)[:-1]:
        assert torch.equal(layer.weight, layer.weight[:1].expand_as(layer.weight))
        assert torch.equal(layer.bias, layer.bias[:1].expand_as(layer.bias))
    assert abs(result.evaluation.train_loss - 0.69) < 0.01


def frozen_layers(lesson: Lesson) -> None:
    s = session(lesson)
    before = linears(s)[0].weight.detach().clone()
    result = run(s, lesson["steps"])
    assert torch.equal(linears(s)[0].weight, before)
    assert abs(result.evaluation.train_loss - 0.4) < 0.05
    unfrozen = session(lesson, model={"frozen_layers": []})
    assert run(unfrozen, lesson["steps"]).evaluation.train_loss < 0.15


def edge_of_stability(lesson: Lesson) -> None:
    s = session(lesson)
    limit = 2 / s.config.training.learning_rate
    assert compute_curvature(take_curvature_input(s)).lambda_max < 0.5 * limit
    assert run(s, lesson["steps"]).divergence is None
    end = compute_curvature(take_curvature_input(s), iterations=100)
    assert end.lambda_max == pytest.approx(limit, rel=0.2)
    # Try: at learning rate 1 the limit 2/lr = 2 is below λmax from the start.
    high = compute_curvature(take_curvature_input(session(lesson, training={"learning_rate": 1.0})))
    assert high.stability_limit is not None and high.lambda_max > high.stability_limit


CLAIMS: dict[str, Callable[[Lesson], None]] = {
    "edge-of-stability": edge_of_stability,
    "learning-rate-too-high": learning_rate_too_high,
    "vanishing-gradients": vanishing_gradients,
    "dead-relus": dead_relus,
    "momentum": momentum,
    "adam-ravine": adam_ravine,
    "zero-grad": zero_grad,
    "activation-regularisation": activation_regularisation,
    "zero-initialisation": zero_initialisation,
    "frozen-layers": frozen_layers,
}


def test_every_lesson_has_its_claim_checked() -> None:
    assert set(TABLE) == set(CLAIMS)


def test_every_card_says_what_will_happen() -> None:
    for lesson in TABLE.values():
        if lesson["steps"] is not None:
            assert lesson["card"].startswith(f"Run {lesson['steps']} steps: "), lesson["id"]
        else:
            assert lesson["card"].startswith("What happens: "), lesson["id"]


@pytest.mark.parametrize("lesson_id", sorted(CLAIMS))
def test_the_lesson_does_what_its_card_says(lesson_id: str) -> None:
    torch.set_num_threads(1)
    CLAIMS[lesson_id](TABLE[lesson_id])
