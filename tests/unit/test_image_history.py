"""The digits lab's rewind and branch: a rewound run trained on is the original run, bit for bit;
a changed one is another run; two branches never share a state."""

from __future__ import annotations

import pytest
import torch

from app.training.history import HistoryError
from app.training.images.config import ImageLabConfig
from app.training.images.history import SNAPSHOT_EVERY_STEPS, ImageTimeline
from app.training.images.run import ImageRun
from app.training.images.snapshot import SNAPSHOT_OVERHEAD_BYTES


def everything_random() -> ImageLabConfig:
    """Dropout (the RNG), batch norm (running statistics), Adam (moments), a step schedule,
    and batches of 100 so that step 13 starts the second epoch (the sampler redraws)."""
    return ImageLabConfig.model_validate(
        {
            "model": {"dropout": 0.5, "batchnorm": True, "hidden_layers": [24]},
            "training": {
                "optimizer": "adam",
                "learning_rate": 0.01,
                "batch_size": 100,
                "schedule": "step",
                "schedule_step_size": 7,
            },
        }
    )


def train_keeping(run: ImageRun, timeline: ImageTimeline, steps: int) -> None:
    """As Play does: a snapshot at the start, then one whenever one is due, losses recorded."""
    timeline.keep(run.snapshot())
    for _ in range(steps):
        loss = run.step()
        timeline.record([(run.step_count, loss)])
        if timeline.due(run.step_count):
            timeline.keep(run.snapshot())


def weights(run: ImageRun) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in run.model.state_dict().items()}


def assert_same_state(a: ImageRun, b: ImageRun) -> None:
    for name, tensor in a.model.state_dict().items():
        assert torch.equal(tensor, b.model.state_dict()[name]), name
    moments_a, moments_b = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for index, state in moments_a.items():
        for key, value in state.items():
            assert torch.equal(value, moments_b[index][key]), (index, key)
    assert a.scheduler.state_dict() == b.scheduler.state_dict()
    assert a.sampler.position() == b.sampler.position()
    assert a.step_count == b.step_count


def test_rewound_to_step_s_and_trained_to_t_again_the_run_is_the_original_bit_for_bit() -> None:
    config = everything_random()
    original = ImageRun(config)
    original_losses = original.train(40)

    run = ImageRun(config)
    timeline = ImageTimeline(config)
    train_keeping(run, timeline, 40)
    assert timeline.steps == [0, 10, 20, 30, 40]
    run.restore(timeline.rewind_to(10))
    assert run.step_count == 10
    train_keeping(run, timeline, 30)

    assert_same_state(run, original)
    assert [loss for _, loss in timeline.current.losses] == original_losses
    assert len(timeline.runs()) == 2  # training on after a rewind is a branch, even unchanged
    assert timeline.current.name == "from step 10: same settings"


def test_a_rewound_run_trained_with_another_learning_rate_is_another_run() -> None:
    config = everything_random()
    run, timeline = ImageRun(config), ImageTimeline(config)
    train_keeping(run, timeline, 30)
    at_30 = weights(run)
    run.restore(timeline.rewind_to(10))
    faster = config.training.model_copy(update={"learning_rate": 0.05})
    run.set_training(config.model_copy(update={"training": faster}))
    train_keeping(run, timeline, 20)

    assert run.step_count == 30
    assert not torch.equal(weights(run)["output.weight"], at_30["output.weight"])
    first, branch = timeline.runs()
    assert branch.name == "from step 10: learning_rate 0.01 → 0.05"
    assert (branch.parent, branch.branch_step) == (first.id, 10)
    assert [s for s, _ in first.losses] == list(range(1, 31))  # the run left keeps its curve


def test_rewinding_never_reaches_the_state_of_the_branch_left_behind() -> None:
    config = everything_random()
    run, timeline = ImageRun(config), ImageTimeline(config)
    train_keeping(run, timeline, 30)
    old_at_30 = weights(run)
    old_curve = list(timeline.current.losses)
    run.restore(timeline.rewind_to(10))
    slower = config.training.model_copy(update={"learning_rate": 0.002})
    run.set_training(config.model_copy(update={"training": slower}))
    train_keeping(run, timeline, 20)
    new_at_30 = weights(run)

    assert timeline.steps == [0, 10, 20, 30]
    run.restore(timeline.rewind_to(20))
    run.restore(timeline.rewind_to(30))
    assert torch.equal(weights(run)["output.weight"], new_at_30["output.weight"])
    assert not torch.equal(weights(run)["output.weight"], old_at_30["output.weight"])
    assert run.config.training.learning_rate == 0.002
    # The branch's curve is its parent's up to step 10, then its own.
    assert timeline.current.losses[:10] == old_curve[:10]
    assert timeline.current.losses[10:] != old_curve[10:30]


def test_back_and_forth_without_training_changes_nothing_and_branches_nothing() -> None:
    config = everything_random()
    run, timeline = ImageRun(config), ImageTimeline(config)
    train_keeping(run, timeline, 20)
    present = weights(run)
    run.restore(timeline.rewind_to(0))
    assert not torch.equal(weights(run)["output.weight"], present["output.weight"])
    run.restore(timeline.rewind_to(20))
    assert all(torch.equal(v, present[k]) for k, v in weights(run).items())
    train_keeping(run, timeline, 5)
    assert len(timeline.runs()) == 1


def test_a_rewind_to_a_step_not_kept_is_refused_with_the_kept_steps_named() -> None:
    config = ImageLabConfig()
    run, timeline = ImageRun(config), ImageTimeline(config)
    train_keeping(run, timeline, 12)
    with pytest.raises(HistoryError, match=r"step 5 is not kept; kept steps are 0…10"):
        timeline.rewind_to(5)
    train_keeping(run, timeline, 1)
    assert len(timeline.runs()) == 1  # the refused rewind started no branch


def test_a_snapshot_of_the_default_cnn_is_its_weights_adams_moments_and_the_dropout_rng() -> None:
    run = ImageRun(ImageLabConfig())
    run.train(1)
    parameters = list(run.model.parameters())
    n = sum(p.numel() for p in parameters)
    # float32 weights, Adam's two moments per weight and one float32 step count per tensor.
    expected = 4 * n + 2 * 4 * n + 4 * len(parameters) + torch.get_rng_state().numel()
    assert run.snapshot().nbytes == SNAPSHOT_OVERHEAD_BYTES + expected
    assert run.snapshot().nbytes < 40 * 1024  # ~400 of them in the default 16 MB


def test_the_snapshots_stay_within_their_budget_and_the_first_step_stays() -> None:
    config = ImageLabConfig()
    run = ImageRun(config)
    one = run.snapshot().nbytes
    timeline = ImageTimeline(config, max_bytes=8 * one, recent=4)
    train_keeping(run, timeline, 30 * SNAPSHOT_EVERY_STEPS)
    assert timeline.nbytes <= timeline.max_bytes
    assert timeline.nbytes == sum(s.nbytes for s in timeline.snapshots)
    assert timeline.steps[0] == 0 and timeline.steps[-1] == 300
    assert timeline.note() is not None and "thinned" in timeline.note()


def test_a_reset_archives_the_run_and_keeps_no_snapshot_of_it() -> None:
    config = ImageLabConfig()
    run, timeline = ImageRun(config), ImageTimeline(config)
    train_keeping(run, timeline, 3)
    timeline.start_over(config)
    assert [r.name for r in timeline.runs()] == ["run 1", "reset"]
    assert timeline.steps == []
    with pytest.raises(HistoryError):
        timeline.rewind_to(0)
