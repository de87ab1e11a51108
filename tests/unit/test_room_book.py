"""Rooms in the store: codes, secrets, names, the size limit, idle expiry, guessing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.room import book as rooms
from app.room.book import GuessLimiter, RoomBook, RoomError, clean_name
from app.room.memory_store import MemoryRoomStore


def test_a_new_room_has_a_six_character_code_and_a_192_bit_teacher_secret() -> None:
    async def scenario() -> None:
        book = RoomBook(MemoryRoomStore())
        room, secret = await book.create()
        assert len(room.code) == 6 and set(room.code) <= set(rooms.CODE_ALPHABET)
        assert len(secret) == 32  # 24 random bytes in URL-safe base64
        assert secret not in room.model_dump_json()  # only its hash is stored
        assert (await book.teacher(room.code, secret, "t")).code == room.code
        # Another last character (a fixed "A" was the secret itself one time in 64).
        wrong = secret[:-1] + ("B" if secret.endswith("A") else "A")
        with pytest.raises(RoomError):
            await book.teacher(room.code, wrong, "t")

    asyncio.run(scenario())


def test_names_are_plain_text_squeezed_and_bounded() -> None:
    assert clean_name("  <b>Ann</b>\n\t Lee ") == "<b>Ann</b> Lee"
    assert clean_name("a" * 40) == "a" * 40
    for bad in ("", "\u0000\u200b ", "a" * 41):
        with pytest.raises(RoomError):
            clean_name(bad)


def test_a_full_room_refuses_one_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rooms, "MAX_ROOM_SIZE", 2)

    async def scenario() -> None:
        book = RoomBook(MemoryRoomStore())
        room, _ = await book.create()
        await book.join(room.code, "A", "c")
        await book.join(room.code, "B", "c")
        with pytest.raises(RoomError, match="full"):
            await book.join(room.code, "C", "c")

    asyncio.run(scenario())


def test_a_room_nobody_touches_expires() -> None:
    async def scenario() -> None:
        book = RoomBook(MemoryRoomStore(), idle_seconds=0.05)
        room, _ = await book.create()
        assert await book.get(room.code) is not None
        await asyncio.sleep(0.1)
        assert await book.get(room.code) is None

    asyncio.run(scenario())


def test_wrong_codes_block_a_client_for_the_window_and_only_that_client() -> None:
    limiter = GuessLimiter(limit=3, window=60.0)
    now = time.monotonic()
    for _ in range(3):
        limiter.check("guesser", now)
        limiter.missed("guesser", now)
    with pytest.raises(RoomError, match="too many"):
        limiter.check("guesser", now + 1)
    limiter.check("someone else", now + 1)
    limiter.check("guesser", now + 61)  # the window has passed


def test_rooms_live_in_the_session_store_and_its_channels_reach_subscribers(
    tmp_path: Path,
) -> None:
    from app.store.sqlite_store import SqliteStore

    async def scenario() -> None:
        store = SqliteStore(tmp_path / "rooms.sqlite3", 300.0)
        try:
            room, _ = await RoomBook(store).create()
            # Another replica's book (same store) finds the room and its students.
            other = RoomBook(store)
            _, student, token = await other.join(room.code, "Ann", "c")
            found, who = await RoomBook(store).student(room.code, token, "c")
            assert who == student and found.students[student].name == "Ann"
            assert await other.get("room:../x") is None  # not a code: never a key
            subscription = await store.subscribe(f"room:{room.code}")
            await store.publish(f"room:{room.code}", b"lesson")
            assert await asyncio.wait_for(subscription.next(), 5) == b"lesson"
            await subscription.close()
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_room_being_taught_does_not_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from app.room import member as members

    monkeypatch.setattr(members, "KEEP_ALIVE_SECONDS", 0.05)

    async def scenario() -> None:
        book = RoomBook(MemoryRoomStore(), idle_seconds=0.2)
        room, _ = await book.create()
        own = cast(Any, SimpleNamespace(pages=SimpleNamespace(on_frame=[])))
        teacher = members.RoomMember(book, room, "teacher", None, own, lambda: None)
        await teacher.start()
        await asyncio.sleep(0.5)  # over twice the idle expiry
        assert await book.get(room.code) is not None
        await teacher.stop()
        await asyncio.sleep(0.3)
        assert await book.get(room.code) is None

    asyncio.run(scenario())
