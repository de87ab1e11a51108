"""Write-behind on a fake clock: at most one write per interval, degraded and back, flush."""

from __future__ import annotations

import asyncio
import itertools
import threading
from pathlib import Path

import pytest

from app.store.base import SessionStore, Subscription
from app.store.errors import StoreUnavailable
from app.store.keys import new_session_id
from app.store.records import RecordEncoder, decode_run
from app.store.snapshot import RunSnapshot, resume_session, take_snapshot
from app.store.sqlite_store import SqliteStore
from app.store.writer import WriteBehind
from app.training.session import TrainingSession


class MemoryStore(SessionStore):
    """Records in a dict; `down` makes every write fail as an unreachable store does."""

    kind = "memory"
    ttl_seconds = 60.0

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.owners: dict[str, str] = {}
        self.attempts = 0
        self.down: str | None = None

    async def put(self, session_id: str, record: bytes, owner: str) -> bool:
        self.attempts += 1
        if self.down:
            raise StoreUnavailable(self.down)
        if self.owners.setdefault(session_id, owner) != owner:
            return False
        self.records[session_id] = record
        return True

    async def claim(self, session_id: str, owner: str) -> None:
        self.owners[session_id] = owner

    async def get(self, session_id: str) -> bytes | None:
        return self.records.get(session_id)

    async def delete(self, session_id: str) -> None:
        self.records.pop(session_id, None)

    async def touch(self, session_id: str) -> bool:
        return session_id in self.records

    async def get_value(self, key: str) -> bytes | None:
        raise NotImplementedError

    async def set_value(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        raise NotImplementedError

    async def delete_value(self, key: str) -> None:
        raise NotImplementedError

    async def publish(self, channel: str, message: bytes) -> None:
        raise NotImplementedError

    async def subscribe(self, channel: str) -> Subscription:
        raise NotImplementedError

    async def ping(self) -> None:
        if self.down:
            raise StoreUnavailable(self.down)

    async def close(self) -> None:
        pass

    def describe(self) -> str:
        return "memory"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Engine:
    """A run and the capture the registry would hand over (here on the loop, for the test)."""

    def __init__(self) -> None:
        self.session = TrainingSession()
        self.captures = 0

    def train(self) -> None:
        self.session.burst(5)

    async def capture(self) -> RunSnapshot:
        self.captures += 1
        return take_snapshot(self.session)


def stored_step(store: MemoryStore, session_id: str) -> int:
    return decode_run(store.records[session_id]).state.step


def run(coroutine_function: object) -> None:
    asyncio.run(coroutine_function())  # type: ignore[operator]


def test_a_changing_run_is_written_at_most_once_per_interval() -> None:
    store, clock, engine, sid = MemoryStore(), Clock(), Engine(), new_session_id()

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", interval_seconds=2.0, clock=clock)
        writer.changed(sid, engine.capture)
        assert await writer.write_due() == 1
        for _ in range(5):
            engine.train()
            writer.changed(sid, engine.capture)
            clock.now += 0.3
            assert await writer.write_due() == 0
        assert writer.next_due() == pytest.approx(102.0)
        clock.now = 102.0
        assert await writer.write_due() == 1
        assert stored_step(store, sid) == engine.session.step_count == 25
        clock.now += 10
        assert await writer.write_due() == 0  # unchanged: not written again
        assert writer.next_due() is None
        await writer.stop()

    run(scenario)
    assert store.attempts == 2 and engine.captures == 2


def test_an_unreachable_store_degrades_then_backs_off_then_catches_up() -> None:
    store, clock = MemoryStore(), Clock()
    engines = {new_session_id(): Engine() for _ in range(3)}

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", interval_seconds=2.0, clock=clock)
        store.down = "redis redis://cache:6379: ConnectionError: connection refused"
        for sid, engine in engines.items():
            writer.changed(sid, engine.capture)
        assert await writer.write_due() == 0
        health = writer.health()
        assert health.status == "degraded" and "connection refused" in str(health.reason)
        assert health.pending == 3 and store.attempts == 1  # one failure: the rest wait
        clock.now += 0.9
        await writer.write_due()
        assert store.attempts == 1  # within the first backoff (1 s): not even tried
        clock.now += 0.2
        await writer.write_due()
        assert store.attempts == 2  # tried again, failed again: the next wait is 2 s
        clock.now += 1.9
        await writer.write_due()
        assert store.attempts == 2
        for engine in engines.values():
            engine.train()
        store.down = None
        clock.now += 0.2
        assert await writer.write_due() == 1  # back: the pending runs catch up, paced
        assert writer.health().status == "ok" and writer.health().pending == 2
        assert writer.next_due() == pytest.approx(clock.now + 0.1)
        for _ in range(2):
            clock.now += 0.1
            assert await writer.write_due() == 1
        assert writer.health().pending == 0
        await writer.stop()

    run(scenario)
    for sid, engine in engines.items():
        assert stored_step(store, sid) == engine.session.step_count == 5


class TimedStore(MemoryStore):
    """Remembers when each write came, on the test's clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.writes: list[tuple[float, str]] = []

    async def put(self, session_id: str, record: bytes, owner: str) -> bool:
        self.writes.append((self.clock.now, session_id))
        return await super().put(session_id, record, owner)


def test_writes_are_paced_the_longest_waiting_first() -> None:
    clock = Clock()
    store = TimedStore(clock)
    engines = {new_session_id(): Engine() for _ in range(30)}

    async def scenario() -> None:
        writer = WriteBehind(
            store, "replica-a", interval_seconds=2.0, clock=clock, max_writes_per_second=10
        )
        # Every run changes all the time (a class playing), for 9 s of 0.1 s ticks.
        for _ in range(90):
            for sid, engine in engines.items():
                writer.changed(sid, engine.capture)
            assert await writer.write_due() == 1
            clock.now = round(clock.now + 0.1, 6)
        await writer.stop()

    run(scenario)
    paced, flushed = store.writes[:90], store.writes[90:]
    # Ten writes a second in all; every run once before any run twice, in the same order;
    # so each of the 30 is written every 3 s (the pace, not the 2 s interval, sets it).
    assert [sid for _, sid in paced] == list(engines) * 3
    for sid in engines:
        times = [t for t, s in paced if s == sid]
        assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [3.0, 3.0]
    # stop() writes at once every run changed since its last write: all but the last one.
    assert sorted(sid for _, sid in flushed) == sorted(list(engines)[:-1])


def test_flush_writes_everything_pending_at_once_whatever_the_interval() -> None:
    store, clock = MemoryStore(), Clock()
    engines = {new_session_id(): Engine() for _ in range(3)}

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", interval_seconds=60.0, clock=clock)
        for sid, engine in engines.items():
            writer.changed(sid, engine.capture)
        for _ in engines:  # one write per pace slot
            assert await writer.write_due() == 1
            clock.now += 0.1
        for engine in engines.values():
            engine.train()
        for sid, engine in list(engines.items())[:2]:
            writer.changed(sid, engine.capture)
        report = await writer.flush()
        assert report.written == 2 and report.unwritten == []
        await writer.stop()

    run(scenario)
    steps = [stored_step(store, sid) for sid in engines]
    assert steps == [5, 5, 0]  # the third was unchanged since its first write


def test_a_flush_against_a_dead_store_stops_at_once_and_names_what_was_lost() -> None:
    store, clock = MemoryStore(), Clock()
    engines = {new_session_id(): Engine() for _ in range(3)}

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", clock=clock)
        for sid, engine in engines.items():
            writer.changed(sid, engine.capture)
        store.down = "timed out"
        report = await writer.flush()
        assert report.written == 0 and report.reason == "timed out"
        assert report.unwritten == list(engines)
        assert store.attempts == 1
        await writer.stop()

    run(scenario)


def test_eviction_writes_a_run_now_and_says_whether_the_store_has_it() -> None:
    store, clock, engine, sid = MemoryStore(), Clock(), Engine(), new_session_id()

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", interval_seconds=60.0, clock=clock)
        writer.changed(sid, engine.capture)
        await writer.write_due()
        engine.train()
        writer.changed(sid, engine.capture)
        store.down = "down"
        assert not await writer.write(sid)
        store.down = None
        assert await writer.write(sid)
        assert stored_step(store, sid) == 5
        assert await writer.write(sid)  # nothing new: still held
        writer.forget(sid)
        assert not await writer.write(sid)
        await writer.stop()

    run(scenario)


def test_a_run_whose_capture_fails_is_dropped_and_the_others_go_on() -> None:
    store, clock, engine = MemoryStore(), Clock(), Engine()
    broken, fine = new_session_id(), new_session_id()

    async def fails() -> RunSnapshot:
        raise RuntimeError("session closed")

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", clock=clock)
        writer.changed(broken, fails)
        writer.changed(fine, engine.capture)
        assert await writer.write_due() == 1
        assert writer.health().status == "ok" and writer.next_due() is None
        await writer.stop()

    run(scenario)
    assert list(store.records) == [fine]


def test_a_record_over_its_bound_is_not_stored_and_does_not_degrade_the_store() -> None:
    store, clock, engine, sid = MemoryStore(), Clock(), Engine(), new_session_id()

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", max_record_bytes=1000, clock=clock)
        writer.changed(sid, engine.capture)
        assert await writer.write_due() == 0
        assert writer.health().status == "ok"
        assert not await writer.write(sid)  # so it must not be evicted from memory
        report = await writer.stop()
        assert report.written == 0 and report.reason is None

    run(scenario)
    assert store.attempts == 0


def test_records_are_encoded_off_the_event_loop_s_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    encode = RecordEncoder.encode

    def spying(self: RecordEncoder, snapshot: RunSnapshot) -> bytes:
        threads.append(threading.current_thread().name)
        return encode(self, snapshot)

    monkeypatch.setattr(RecordEncoder, "encode", spying)
    store, engine, sid = MemoryStore(), Engine(), new_session_id()

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a")
        writer.changed(sid, engine.capture)
        await writer.flush()
        await writer.stop()

    run(scenario)
    assert len(threads) == 1 and threads[0].startswith("store-writer")
    assert threads[0] != threading.current_thread().name


def test_the_running_writer_stores_a_change_and_stop_flushes_the_last(tmp_path: Path) -> None:
    engine, sid = Engine(), new_session_id()

    async def scenario() -> TrainingSession:
        store = SqliteStore(tmp_path / "runs.db", 3600)
        writer = WriteBehind(store, "replica-a", interval_seconds=3600)
        writer.start()
        writer.changed(sid, engine.capture)
        # A condition, not a duration: the first change of a run is written without waiting.
        while (raw := await store.get(sid)) is None:
            await asyncio.sleep(0.01)
        assert decode_run(raw).state.step == 0
        engine.train()
        writer.changed(sid, engine.capture)
        report = await writer.stop()
        assert report.written == 1
        raw = await store.get(sid)
        await store.close()
        assert raw is not None
        return resume_session(decode_run(raw))

    resumed = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert resumed.step_count == engine.session.step_count == 5
    engine.train()
    resumed.burst(5)
    for a, b in zip(engine.session.model.parameters(), resumed.model.parameters(), strict=True):
        assert a.equal(b)


def test_a_run_claimed_by_another_replica_is_dropped_here_not_overwritten() -> None:
    store, clock, engine, sid = MemoryStore(), Clock(), Engine(), new_session_id()
    lost: list[str] = []

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", lost.append, interval_seconds=2.0, clock=clock)
        writer.changed(sid, engine.capture)
        assert await writer.write_due() == 1
        await store.claim(sid, "replica-b")  # its page reconnected to replica b, which resumed
        store.records[sid] = b"replica b's run"
        engine.train()
        writer.changed(sid, engine.capture)
        clock.now += 2
        assert await writer.write_due() == 0
        assert lost == [sid] and writer.next_due() is None
        assert writer.health().status == "ok"
        assert not await writer.write(sid)
        await writer.stop()

    run(scenario)
    assert store.records[sid] == b"replica b's run"


def test_stop_right_after_a_change_ends_the_loop_and_writes_it() -> None:
    """The change wakes the loop as the cancellation comes; Python 3.11's wait_for then
    returns instead of raising, and a loop that relied on the cancellation alone ran on."""
    store, first, second = MemoryStore(), Engine(), Engine()
    first_id, second_id = new_session_id(), new_session_id()

    async def scenario() -> None:
        writer = WriteBehind(store, "replica-a", interval_seconds=60.0)
        writer.start()
        writer.changed(first_id, first.capture)
        while first_id not in store.records:
            await asyncio.sleep(0.01)
        first.train()
        writer.changed(first_id, first.capture)  # due in a minute: the loop waits with a timeout
        await asyncio.sleep(0.05)
        writer.changed(second_id, second.capture)
        stopping = asyncio.create_task(writer.stop())
        done, _ = await asyncio.wait({stopping}, timeout=30)
        assert done, "stop() still waits for the writing loop"
        assert not stopping.result().unwritten

    run(scenario)
    assert stored_step(store, first_id) == 5 and stored_step(store, second_id) == 0
