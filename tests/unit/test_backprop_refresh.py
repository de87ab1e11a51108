"""What a playing run's frame refreshes of its autograd graph and code listing after a change.

With a class some learner's rate changes every few milliseconds: a rate draws no node of the
graph, and the listing follows a playing run's settings at most every quarter second."""

from __future__ import annotations

import pytest

from app.realtime import backprop
from app.realtime.backprop import BackpropChannel
from app.training.change import SettingsChange
from app.training.session import TrainingSession


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(backprop.time, "monotonic", clock.monotonic)
    return clock


def test_a_rate_change_keeps_the_graph_and_a_penalty_redraws_it(clock: Clock) -> None:
    engine = TrainingSession()
    channel = BackpropChannel(engine)
    channel.refresh(running=True)
    drawn = channel.versions["autograd"]
    engine.apply_change(SettingsChange(training={"learning_rate": 0.3}))
    channel.refresh(running=True)
    assert channel.versions["autograd"] == drawn
    engine.apply_change(SettingsChange(training={"l1": 0.01}))
    channel.refresh(running=True)
    assert channel.versions["autograd"] == drawn + 1
    names = {node.name for node in channel.unsent({})[-1].nodes}  # type: ignore[attr-defined]
    assert any("Abs" in name for name in names), names  # the L1 term's own nodes


def test_a_playing_runs_listing_follows_its_rate_within_a_quarter_second(clock: Clock) -> None:
    engine = TrainingSession()
    channel = BackpropChannel(engine)
    channel.refresh(running=True)
    written = channel.versions["code"]
    engine.apply_change(SettingsChange(training={"learning_rate": 0.3}))
    channel.refresh(running=True)  # right after the first listing: a later frame writes it
    assert channel.versions["code"] == written
    clock.now += backprop.PLAYING_CODE_REFRESH_SECONDS
    channel.refresh(running=True)
    assert channel.versions["code"] == written + 1
    listing = channel.unsent({})[0]
    assert "lr=0.3)" in listing.source  # type: ignore[attr-defined]


def test_a_paused_runs_listing_follows_every_change_at_once(clock: Clock) -> None:
    engine = TrainingSession()
    channel = BackpropChannel(engine)
    channel.refresh(running=False)
    for rate in (0.3, 0.2):
        engine.apply_change(SettingsChange(training={"learning_rate": rate}))
        channel.refresh(running=False)
        assert f"lr={rate})" in channel.unsent({})[0].source  # type: ignore[attr-defined]
    assert channel.versions["code"] == 3
