"""The run's history: rewinding replays bit for bit, memory stays under its limit, branches are
named runs, and a run exports as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
import torch

from app.training.config import LabConfig, ModelConfig, TrainingConfig
from app.training.history import HistoryError, Timeline, history_csv, history_json
from app.training.session import TrainingSession
from app.training.state import STATE_OVERHEAD_BYTES


def state(session: TrainingSession) -> dict[str, torch.Tensor]:
    """Every parameter and every tensor of the optimizer's state, by name."""
    out = {f"param.{k}": v.detach().clone() for k, v in session.model.state_dict().items()}
    for i, p in enumerate(session.model.parameters()):
        for key, value in session.optimizer.state.get(p, {}).items():
            if isinstance(value, torch.Tensor):
                out[f"optim.{i}.{key}"] = value.clone()
    return out


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize(
    "training",
    [
        TrainingConfig(optimizer="sgd", momentum=0.9, batch_size=7),
        TrainingConfig(optimizer="adam", schedule="cosine", schedule_steps=30),
        TrainingConfig(optimizer="rmsprop", momentum=0.5, batch_size=64),
        TrainingConfig(optimizer="adamw", weight_decay=0.01, schedule="step", schedule_step_size=5),
    ],
    ids=["momentum-sgd", "adam-cosine", "rmsprop", "adamw-steplr"],
)
def test_rewinding_to_step_k_and_replaying_reproduces_every_later_step_bit_for_bit(
    training: TrainingConfig,
) -> None:
    session = TrainingSession(LabConfig(model=ModelConfig(hidden_layers=[6, 4]), training=training))
    # One-step bursts: a state kept at every step, and the state after every step recorded.
    original = {}
    for _ in range(40):
        session.burst(1)
        original[session.step_count] = state(session)
    k = 17
    session.rewind(k)
    assert session.step_count == k
    assert_bitwise_equal(state(session), original[k])
    for step in range(k + 1, 41):
        session.burst(1)
        assert session.step_count == step
        assert_bitwise_equal(state(session), original[step])


def test_a_rewind_replays_across_bursts_of_many_steps_and_epochs() -> None:
    session = TrainingSession(LabConfig(training=TrainingConfig(optimizer="adam", batch_size=30)))
    for _ in range(6):
        session.burst(25)  # an epoch is 250 points: several epochs go by
    final = state(session)
    session.rewind(50)
    for _ in range(4):
        session.burst(25)
    assert session.step_count == 150
    assert_bitwise_equal(state(session), final)


def measured_bytes(timeline: Timeline) -> int:
    """The states' tensor storage, counted afresh (each storage once), plus the overhead."""
    seen: dict[int, int] = {}

    def walk(value: object) -> None:
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    for s in timeline.states:
        walk(s.model_state)
        walk(s.optimizer_state)
        walk(s.scheduler_state)
    return sum(seen.values()) + STATE_OVERHEAD_BYTES * len(timeline.states)


def test_the_history_stays_under_its_memory_limit_over_a_long_run() -> None:
    config = LabConfig(
        model=ModelConfig(hidden_layers=[16, 16, 16]), training=TrainingConfig(optimizer="adam")
    )
    session = TrainingSession(config)
    limit = 300_000
    session.timeline.max_bytes = limit
    session.timeline.recent = 20
    largest = 0
    for _ in range(600):
        session.burst(2)
        largest = max(largest, measured_bytes(session.timeline))
    timeline = session.timeline
    assert largest <= limit
    assert timeline.nbytes == measured_bytes(timeline)
    assert timeline.thinned_before is not None and "thinned" in (timeline.note() or "")
    steps = timeline.steps
    # The recent ring is dense (one per burst), the older part sparse, and step 0 is kept.
    assert steps[0] == 0 and steps[-20:] == list(range(steps[-1] - 38, steps[-1] + 1, 2))
    assert len(steps) < 600


def test_the_ring_alone_shrinks_when_one_state_is_larger_than_its_share() -> None:
    session = TrainingSession(LabConfig(model=ModelConfig(hidden_layers=[16] * 6)))
    session.timeline.max_bytes = 40_000
    for _ in range(50):
        session.burst(1)
    assert session.timeline.nbytes <= 40_000
    assert session.timeline.steps[-1] == 49


def test_training_on_from_a_rewound_step_with_a_new_setting_is_a_named_branch() -> None:
    session = TrainingSession()
    for _ in range(5):
        session.burst(10)
    session.rewind(20)
    assert [r.step for r in session.history][-1] == 50  # the curve stays until a branch
    session.set_training(learning_rate=0.1)
    session.burst(10)
    runs = session.runs()
    assert [r.name for r in runs] == ["run 1", "from step 20: learning_rate 0.03 → 0.1"]
    old, branch = runs
    assert old.history[-1].step == 50 and branch.parent == old.id and branch.branch_step == 20
    assert [r.step for r in branch.history] == [0, 10, 20, 30]
    assert session.timeline.steps == [0, 10, 20]  # step 30's state comes with the next burst


def test_rewinding_keeps_the_present_so_the_scrubber_can_return_to_it() -> None:
    session = TrainingSession()
    session.burst(10)
    session.burst(7)
    present = state(session)
    session.rewind(0)
    assert session.timeline.steps == [0, 10, 17]
    session.rewind(17)
    assert_bitwise_equal(state(session), present)
    assert len(session.runs()) == 1


def test_scrubbing_back_and_forth_does_not_branch_until_training_goes_on() -> None:
    session = TrainingSession()
    for _ in range(4):
        session.burst(5)
    session.rewind(5)
    session.rewind(15)
    assert len(session.runs()) == 1
    assert session.timeline.steps == [0, 5, 10, 15, 20]
    with pytest.raises(HistoryError, match="step 7 is not kept"):
        session.rewind(7)


def test_a_reset_archives_the_run_and_starts_a_new_one() -> None:
    session = TrainingSession()
    session.burst(10)
    session.reset()
    session.set_activation("relu")
    assert [r.name for r in session.runs()] == ["run 1", "reset"]
    session.rebuild(model=ModelConfig(hidden_layers=[4, 4]))
    assert session.runs()[-1].name == "reset"  # the reset run never trained
    session.burst(3)
    session.rebuild(model=ModelConfig(hidden_layers=[3]))
    assert session.runs()[-1].name.startswith("new run: hidden_layers [4,4] → [3]")


def test_a_run_exports_its_losses_rate_and_layer_figures_as_csv_and_json() -> None:
    session = TrainingSession()
    session.burst(4)
    session.burst(4)
    run = session.runs()[-1]
    rows = list(csv.DictReader(io.StringIO(history_csv(run))))
    assert [r["step"] for r in rows] == ["0", "4", "8"]
    assert rows[0]["layer0_grad_norm"] == "" and float(rows[2]["layer2_update_ratio"]) > 0
    assert float(rows[1]["learning_rate"]) == 0.03
    data = json.loads(history_json(run))
    assert data["run"]["name"] == "run 1" and len(data["records"]) == 3
    assert data["records"][2]["train_loss"] == pytest.approx(session.history[-1].train)


def test_the_timeline_imports_nothing_of_the_trainer() -> None:
    code = (
        "import sys, app.training.history; "
        "print(sorted(m for m in sys.modules if m in ('app.training.session', "
        "'app.training.trainer')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_pace_is_how_a_run_is_watched_kept_across_a_rewind_and_never_a_branch_name() -> None:
    session = TrainingSession()
    session.burst(10)
    session.burst(10)
    session.set_training(steps_per_frame=3)
    session.rewind(10)
    assert session.config.training.steps_per_frame == 3
    session.set_training(learning_rate=0.1)
    session.burst(5)
    assert session.runs()[-1].name == "from step 10: learning_rate 0.03 → 0.1"
