"""Playing runs of one shape train as one group, and each run is the run it would be alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from app.realtime.group_rounds import GroupRounds
from app.realtime.groups import GroupStats
from app.realtime.registry import SessionRegistry
from app.training.config import LabConfig
from app.training.session import TrainingSession
from tests.protocol.helpers import receive_until, send


def stats(client: TestClient) -> GroupStats:
    registry: SessionRegistry = client.app.state.registry  # type: ignore[attr-defined]
    return registry.playing.groups.stats()


def engine(client: TestClient, session_id: str) -> TrainingSession:
    registry: SessionRegistry = client.app.state.registry  # type: ignore[attr-defined]
    return registry.sessions[session_id].engine


@contextmanager
def playing_runs(client: TestClient, n: int) -> Iterator[list[tuple[Any, str]]]:
    """`n` pages, each with its own run at the defaults, all playing."""
    with ExitStack() as stack:
        pages = []
        for _ in range(n):
            ws = stack.enter_context(client.websocket_connect("/ws"))
            send(ws, type="hello")
            pages.append((ws, receive_until(ws, "session")["session_id"]))
            receive_until(ws, "frame")
        for ws, _ in pages:
            send(ws, type="control", action="play")
        yield pages


def read_until_grouped(client: TestClient, pages: list[tuple[Any, str]], steps: int) -> None:
    """Read every page's frames (as pages do) until the group path trained `steps` steps."""
    for _ in range(2000):
        for ws, _ in pages:
            receive_until(ws, "frame")
        if stats(client).grouped_steps >= steps:
            return
    raise AssertionError(f"the group path never trained: {stats(client)}")


def pause(pages: list[tuple[Any, str]]) -> None:
    for ws, _ in pages:
        send(ws, type="control", action="pause")
    for ws, _ in pages:
        while receive_until(ws, "frame")["status"] != "paused":
            pass


def eager_weights(steps: int) -> list[torch.Tensor]:
    alone = TrainingSession(LabConfig())
    for _ in range(steps):
        alone.train_step()
    return [p.detach().clone() for p in alone.model.parameters()]


def relative_error(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    return max(float((g - w).abs().max() / w.abs().max()) for g, w in zip(got, want, strict=True))


def test_two_playing_runs_of_one_shape_train_as_a_group_and_each_equals_its_eager_run(
    client: TestClient,
) -> None:
    with playing_runs(client, 2) as pages:
        read_until_grouped(client, pages, steps=100)
        assert stats(client).groups == 1
        pause(pages)
    # Paused runs train no more with a group (they leave it as their play loops end).
    for _ in range(500):
        if stats(client).grouped_sessions == 0:
            break
        time.sleep(0.01)
    assert stats(client).grouped_sessions == 0
    for _, session_id in pages:
        run = engine(client, session_id)
        assert run.step_count > 50
        got = [p.detach().clone() for p in run.model.parameters()]
        assert relative_error(got, eager_weights(run.step_count)) <= 1e-5


def test_a_change_of_shape_takes_a_run_out_of_its_group_and_both_train_on(
    client: TestClient,
) -> None:
    with playing_runs(client, 2) as pages:
        read_until_grouped(client, pages, steps=20)
        (moved, moved_id), (stayed, stayed_id) = pages
        # Another batch size is another shape (another optimizer only another block).
        send(moved, type="set", learning_rate=0.01, batch_size=20, request_id=7)
        assert receive_until(moved, "settings")["config"]["training"]["batch_size"] == 20
        before = {i: engine(client, i).step_count for _, i in pages}
        # Alone in its shape, each run steps eagerly: the group of two is gone.
        for _ in range(5):
            for ws, _ in pages:
                receive_until(ws, "frame")
        assert stats(client).groups == 0
        after = {i: receive_until(ws, "frame")["step"] for ws, i in pages}
        assert after[moved_id] > before[moved_id]
        assert after[stayed_id] > before[stayed_id]
        assert engine(client, moved_id).config.training.batch_size == 20
        pause(pages)


def test_a_learning_rate_change_in_a_group_shows_in_the_next_frame(
    client: TestClient,
) -> None:
    with playing_runs(client, 2) as pages:
        read_until_grouped(client, pages, steps=20)
        ws, session_id = pages[0]
        send(ws, type="set", learning_rate=0.3, request_id=3)
        assert receive_until(ws, "settings")["request_id"] == 3
        frame = receive_until(ws, "frame")
        assert frame["learning_rate"] == 0.3
        # Still in the group, training at its new rate while the other keeps its own.
        assert stats(client).groups == 1
        assert receive_until(pages[1][0], "frame")["learning_rate"] == 0.03
        pause(pages)


def test_hovering_over_the_plane_reads_a_grouped_run_without_taking_it_out(
    client: TestClient,
) -> None:
    registry: SessionRegistry = client.app.state.registry  # type: ignore[attr-defined]
    groups = registry.playing.groups
    with playing_runs(client, 2) as pages:
        read_until_grouped(client, pages, steps=20)
        ws, session_id = pages[0]
        group = groups.group_of(session_id)
        for _ in range(5):
            send(ws, type="inspect", x1=0.5, x2=-0.25)
            assert receive_until(ws, "inspection")["x1"] == 0.5
        # The same group all along: taken out, the run would have dissolved it (a new one
        # forms at the next burst).
        assert group is not None and groups.group_of(session_id) is group
        pause(pages)


def test_a_run_stopping_waits_for_no_round_of_its_group(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A class's lesson stops every member at once: each waiting for its frame of the group's
    # round, behind the others' stops, the last of 100 took the lesson 8-14 s late.
    with playing_runs(client, 2) as pages:
        read_until_grouped(client, pages, 20)

        async def round_never_ends(*args: object) -> None:
            await asyncio.Event().wait()

        monkeypatch.setattr(GroupRounds, "_drive", round_never_ends)
        ws, _ = pages[0]
        send(ws, type="control", action="pause")
        while receive_until(ws, "frame")["status"] != "paused":
            pass
        monkeypatch.undo()
        pause(pages[1:])
