"""Run records: a resumed run is exactly where it was; a bad record is refused, saying why."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
from dataclasses import replace
from pathlib import Path

import pytest
import safetensors.torch
import torch

from app.store.codec import HEADER_BYTES, MAGIC, seal
from app.store.errors import (
    CorruptRecord,
    ForeignRecord,
    OversizedRecord,
    RecordError,
    TruncatedRecord,
    UnsupportedVersion,
)
from app.store.records import RecordEncoder, decode_run, encode_run
from app.store.snapshot import resume_session, take_snapshot
from app.training.config import DataConfig, LabConfig, ModelConfig, TrainingConfig
from app.training.session import TrainingSession


def trained(config: LabConfig, bursts: int, steps: int = 15) -> TrainingSession:
    session = TrainingSession(config)
    for _ in range(bursts):
        session.burst(steps)
    return session


def through_a_record(session: TrainingSession) -> TrainingSession:
    return resume_session(decode_run(encode_run(take_snapshot(session))))


def assert_same_run(a: TrainingSession, b: TrainingSession) -> None:
    assert a.step_count == b.step_count
    assert a.config == b.config
    for (name, x), (other, y) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert name == other and torch.equal(x, y), name
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for key, state in sa["state"].items():
        for field, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb["state"][key][field]))
    assert a.scheduler.state_dict() == b.scheduler.state_dict()
    assert a.sampler.position() == b.sampler.position()
    assert [(r.step, r.train, r.test) for r in a.history] == [
        (r.step, r.train, r.test) for r in b.history
    ]


ADAM_WITH_SCHEDULE = LabConfig(
    training=TrainingConfig(
        optimizer="adam", schedule="step", schedule_step_size=40, learning_rate=0.05
    ),
    model=ModelConfig(hidden_layers=[6, 5, 3], activation="relu"),
    data=DataConfig(dataset="spiral", noise=0.2, seed=3),
)
MOMENTUM_MULTICLASS = LabConfig(
    training=TrainingConfig(optimizer="sgd", momentum=0.9, batch_size=7, schedule="cosine"),
    data=DataConfig(dataset="blobs", n_points=300),
)
RMSPROP_REGRESSION = LabConfig(
    training=TrainingConfig(optimizer="rmsprop", weight_decay=0.01, grad_clip_norm=1.0),
    data=DataConfig(dataset="sine"),
)


ADAGRAD_WARMUP = LabConfig(training=TrainingConfig(optimizer="adagrad", schedule="warmup"))
ADAMW_EXPONENTIAL = LabConfig(
    training=TrainingConfig(optimizer="adamw", schedule="exponential", schedule_gamma=0.99)
)


@pytest.mark.parametrize(
    "config",
    [
        LabConfig(),
        ADAM_WITH_SCHEDULE,
        MOMENTUM_MULTICLASS,
        RMSPROP_REGRESSION,
        ADAGRAD_WARMUP,
        ADAMW_EXPONENTIAL,
    ],
    ids=[
        "default",
        "adam-step-schedule",
        "momentum-multiclass",
        "rmsprop-regression",
        "adagrad-warmup",
        "adamw-exponential",
    ],
)
def test_a_resumed_run_trains_on_exactly_as_one_that_never_stopped(config: LabConfig) -> None:
    straight, stopped = trained(config, 7), trained(config, 7)
    resumed = through_a_record(stopped)
    assert_same_run(straight, resumed)
    for _ in range(5):
        straight.burst(15)
        resumed.burst(15)
    assert_same_run(straight, resumed)


def test_slopes_created_along_the_way_and_their_optimizer_groups_come_back() -> None:
    config = LabConfig(training=TrainingConfig(optimizer="adam"))
    runs = [trained(config, 3) for _ in range(2)]
    for run in runs:
        run.set_layer_activations(["tanh", "prelu"])
        run.burst(15)
        run.set_layer_activations(["prelu", "tanh"])
        run.burst(15)
    straight, resumed = runs[0], through_a_record(runs[1])
    assert list(resumed.model.prelu) == ["1", "0"]
    assert_same_run(straight, resumed)
    straight.burst(20)
    resumed.burst(20)
    assert_same_run(straight, resumed)


def test_drawn_points_a_frozen_layer_and_a_changed_batch_size_are_kept() -> None:
    runs = [trained(LabConfig(), 4) for _ in range(2)]
    for run in runs:
        run.edit_points([(1.5, -2.0, 1.0), (0.25, 0.5, 0.0)], [])
        run.set_frozen_layers([0])
        run.set_training(batch_size=3, learning_rate=0.1)
        run.burst(10)
    straight, resumed = runs[0], through_a_record(runs[1])
    assert torch.equal(straight.data.train_x, resumed.data.train_x)
    assert torch.equal(straight.data.train_y, resumed.data.train_y)
    assert not resumed.model.layers[0].weight.requires_grad
    straight.burst(25)
    resumed.burst(25)
    assert_same_run(straight, resumed)


def test_the_timeline_and_its_branches_survive_and_a_rewind_replays_the_same_steps() -> None:
    runs = [trained(LabConfig(), 6) for _ in range(2)]
    for run in runs:
        run.rewind(45)
        run.set_training(learning_rate=0.3)
        run.burst(15)
        run.burst(15)
    straight, resumed = runs[0], through_a_record(runs[1])
    assert resumed.timeline.steps == straight.timeline.steps
    assert [(r.id, r.name, r.branch_step) for r in resumed.runs()] == [
        (r.id, r.name, r.branch_step) for r in straight.runs()
    ]
    archived = [r.step for r in resumed.runs()[0].history]
    assert archived == [r.step for r in straight.runs()[0].history]
    straight.rewind(30)
    resumed.rewind(30)
    straight.burst(15)
    resumed.burst(15)
    assert_same_run(straight, resumed)
    assert [r.name for r in resumed.runs()] == [r.name for r in straight.runs()]


def test_gradient_figures_of_the_loss_log_come_back_exactly() -> None:
    session = trained(LabConfig(), 4)
    resumed = through_a_record(session)
    for a, b in zip(session.history, resumed.history, strict=True):
        assert (a.gradients is None) == (b.gradients is None)
        if a.gradients is not None and b.gradients is not None:
            assert a.gradients.steps == b.gradients.steps
            assert (a.gradients.update_ratio == b.gradients.update_ratio).all()


def test_an_encoder_that_reuses_the_states_it_encoded_writes_the_same_bytes() -> None:
    session = trained(LabConfig(training=TrainingConfig(optimizer="adam")), 5)
    encoder = RecordEncoder()
    encoder.encode(take_snapshot(session))
    session.rewind(30)
    session.burst(15)
    snapshot = take_snapshot(session)
    assert encoder.encode(snapshot) == encode_run(snapshot)


def test_the_session_s_own_knobs_travel_opaquely() -> None:
    live = {"skip_zero_grad": True, "speed": 0.5, "note": None, "tags": ["a", 1]}
    snapshot = decode_run(encode_run(take_snapshot(TrainingSession(), live)))
    assert snapshot.live == live


def test_a_record_over_its_bound_thins_the_timeline_but_keeps_the_run() -> None:
    session = trained(LabConfig(training=TrainingConfig(optimizer="adam")), 60, 2)
    whole = encode_run(take_snapshot(session))
    bound = len(whole) - 3000
    thinned = decode_run(encode_run(take_snapshot(session), bound), bound)
    kept = [s.step for s in thinned.timeline.states]
    assert kept[0] == 0 and kept[-1] == session.timeline.steps[-1]
    assert len(kept) < len(session.timeline.states)
    resumed = resume_session(thinned)
    assert_same_run(session, resumed)


def test_a_run_that_cannot_fit_even_without_its_timeline_is_refused_when_written() -> None:
    with pytest.raises(OversizedRecord, match="at most 2000"):
        encode_run(take_snapshot(TrainingSession()), 2000)


# ---- bad records ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def record() -> bytes:
    return encode_run(take_snapshot(trained(LabConfig(), 2)))


def test_an_oversized_record_is_refused_before_it_is_read(record: bytes) -> None:
    with pytest.raises(OversizedRecord, match="at most 100 are read"):
        decode_run(record, max_bytes=100)


@pytest.mark.parametrize("keep", [0, 5, HEADER_BYTES - 1, HEADER_BYTES + 10, -1])
def test_a_truncated_record_is_refused_as_truncated(record: bytes, keep: int) -> None:
    with pytest.raises(TruncatedRecord):
        decode_run(record[:keep] if keep >= 0 else record[:keep])


@pytest.mark.parametrize("where", [HEADER_BYTES + 3, -5])
def test_a_flipped_byte_is_refused_as_corrupt(record: bytes, where: int) -> None:
    damaged = bytearray(record)
    damaged[where] ^= 0x40
    with pytest.raises(CorruptRecord, match="checksum"):
        decode_run(bytes(damaged))


def test_stray_bytes_after_a_record_are_refused_as_corrupt(record: bytes) -> None:
    with pytest.raises(CorruptRecord, match="stray"):
        decode_run(record + b"\0")


def test_a_record_of_another_schema_version_is_refused_naming_both(record: bytes) -> None:
    newer = record[:8] + struct.pack(">H", 99) + record[10:]
    with pytest.raises(UnsupportedVersion, match="version 99; this server reads 1"):
        decode_run(newer)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind": "backprop-lab-run"}',
        os.urandom(4096),
        safetensors.torch.save({"w": torch.zeros(3)}),
    ],
    ids=["json", "random", "safetensors"],
)
def test_foreign_bytes_are_refused_as_foreign(raw: bytes) -> None:
    with pytest.raises(ForeignRecord, match="wrong magic"):
        decode_run(raw)


def test_a_well_sealed_record_with_nonsense_inside_is_refused_as_corrupt() -> None:
    for tree in ({"kind": "something else"}, {"kind": "backprop-lab-run", "configs": 3}, [1, 2]):
        with pytest.raises(CorruptRecord):
            decode_run(seal(tree, 10_000))


def test_a_tensor_reference_outside_its_buffer_is_refused() -> None:
    raw = seal({"kind": "backprop-lab-run", "x": torch.zeros(2)}, 10_000)
    structure_len = struct.unpack_from(">I", raw, 12)[0]
    body = raw[HEADER_BYTES:]
    forged = body[:structure_len].replace(b'["f32",0,[2]]', b'["f32",1,[9]]')
    assert forged != body[:structure_len]
    body = forged + body[structure_len:]
    header = raw[:12] + struct.pack(">I", len(forged)) + raw[16:24] + hashlib.sha256(body).digest()
    with pytest.raises(CorruptRecord, match="outside the record"):
        decode_run(header + body)


def test_weights_that_do_not_fit_the_model_are_refused_on_resume() -> None:
    snapshot = take_snapshot(TrainingSession())
    other = take_snapshot(TrainingSession(LabConfig(model=ModelConfig(hidden_layers=[3]))))
    forged = replace(snapshot, state=replace(snapshot.state, model_state=other.state.model_state))
    with pytest.raises(CorruptRecord, match="do not fit"):
        resume_session(decode_run(encode_run(forged)))


def test_a_rewind_point_of_another_model_is_refused_on_resume() -> None:
    session = trained(LabConfig(), 3)
    snapshot = take_snapshot(session)
    other = take_snapshot(TrainingSession(LabConfig(model=ModelConfig(hidden_layers=[3]))))
    states = [*snapshot.timeline.states[:-1], other.state]
    forged = replace(snapshot, timeline=replace(snapshot.timeline, states=states))
    with pytest.raises(CorruptRecord, match="not of its model's shape"):
        resume_session(decode_run(encode_run(forged)))


def forged_state(**changes: object) -> bytes:
    snapshot = take_snapshot(trained(LabConfig(training=TrainingConfig(optimizer="adam")), 2))
    return encode_run(replace(snapshot, state=replace(snapshot.state, **changes)))


def test_an_optimizer_state_of_another_shape_is_refused_when_read() -> None:
    state = take_snapshot(trained(LabConfig(), 1)).state.optimizer_state  # SGD's, not Adam's
    with pytest.raises(CorruptRecord, match="not adam's"):
        decode_run(forged_state(optimizer_state=state))
    adam = take_snapshot(trained(LabConfig(training=TrainingConfig(optimizer="adam")), 1))
    groups = [{**g, "lr": "fast"} for g in adam.state.optimizer_state["param_groups"]]
    with pytest.raises(CorruptRecord, match="not adam's"):
        decode_run(
            forged_state(optimizer_state={**adam.state.optimizer_state, "param_groups": groups})
        )


def test_a_schedule_state_with_foreign_fields_is_refused_when_read() -> None:
    state = take_snapshot(trained(LabConfig(), 1)).state.scheduler_state
    with pytest.raises(CorruptRecord, match="not a constant schedule's"):
        decode_run(forged_state(scheduler_state={**state, "optimizer": "anything"}))


class Exploit:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def test_a_crafted_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    payload = pickle.dumps(Exploit(marker))
    torch_file = io.BytesIO()
    torch.save({"x": Exploit(marker)}, torch_file)
    # Sealed in a valid envelope (right magic, version, lengths and checksum) as well as bare.
    body = payload
    sealed = (
        struct.pack(">8sHHIQ32s", MAGIC, 1, 0, len(body), 0, hashlib.sha256(body).digest()) + body
    )
    for raw in (payload, torch_file.getvalue(), sealed):
        with pytest.raises(RecordError):
            decode_run(raw)
    assert not marker.exists()
    pickle.loads(payload)  # the exploit is real: unpickled, it runs
    assert marker.exists()
