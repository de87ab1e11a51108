"""Each shipped challenge can be met by a fair run of the real engine, and its starting point
does not meet it: the server's checker judges what PyTorch trained."""

from __future__ import annotations

import pytest
import torch

from app.room.challenges import CHALLENGES
from app.room.checker import check
from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.session import TrainingSession

# A fair solution of each challenge, found by hand (steps: a bound it is met within).
SOLUTIONS = {
    "spiral-few-neurons": (
        ModelConfig(hidden_layers=[4, 4], features=["x1", "x2", "sin_x1", "sin_x2"]),
        TrainingConfig(learning_rate=0.01, optimizer="adam"),
        3000,
    ),
    "xor-without-product": (
        ModelConfig(hidden_layers=[4]),
        TrainingConfig(learning_rate=0.3),
        2000,
    ),
    "vanishing-gradients": (
        ModelConfig(hidden_layers=[6] * 6, activation="tanh"),
        TrainingConfig(learning_rate=0.1),
        3000,
    ),
}


def run_until_verdict(config: LabConfig, challenge_id: str, steps: int) -> tuple[str, int]:
    torch.set_num_threads(1)
    challenge = CHALLENGES[challenge_id]
    session = TrainingSession(config)
    state = "working"
    while session.step_count < steps:
        result = session.burst(100, None, lambda: False)
        evaluation = result.evaluation or session.evaluate()
        verdict = check(
            challenge, config, session.step_count, evaluation.test_loss, evaluation.test_accuracy
        )
        state = verdict.state
        if state != "working":
            break
    return state, session.step_count


@pytest.mark.parametrize("challenge_id", sorted(SOLUTIONS))
def test_a_fair_run_meets_the_challenge(challenge_id: str) -> None:
    challenge = CHALLENGES[challenge_id]
    model, training, steps = SOLUTIONS[challenge_id]
    data = DataConfig(dataset=challenge.dataset, noise=challenge.noise)
    config = LabConfig(data=data, model=model, training=training)
    state, step = run_until_verdict(config, challenge_id, steps)
    assert state == "met", f"{challenge_id}: {state} after {step} steps"


def test_the_starting_points_do_not_meet_their_challenges_at_once() -> None:
    for challenge in CHALLENGES.values():
        state, _ = run_until_verdict(challenge.start, challenge.id, 200)
        assert state != "met", challenge.id
