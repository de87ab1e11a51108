"""The rooms in the shared store: create, join, look up, change; codes guarded against guessing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections import defaultdict, deque
from typing import Protocol

from pydantic import BaseModel, Field

from app.protocol.room import ChallengeResult, RosterEntry
from app.store.base import Subscription
from app.training.config import LabConfig

# No 0/O, 1/I/L: a code read aloud or off a projector is typed right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
CODE_SHAPE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
MAX_NAME_LENGTH = 40
# A class of 100 (the server admits 120 runs by default; `python -m bench room`).
MAX_ROOM_SIZE = 100
# A room nobody touched (joined, taught, pushed) for this long is gone.
ROOM_IDLE_SECONDS = 4 * 3600.0
# Wrong codes one client may try per window before it is refused for the window.
MAX_GUESSES = 10
GUESS_WINDOW_SECONDS = 60.0


class RoomError(ValueError):
    """A join or teacher action refused, in words the person can act on."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


class RoomStore(Protocol):
    """The part of the session store rooms need (SessionStore has it): shared values with an
    expiry, and channels that reach every replica."""

    async def get_value(self, key: str) -> bytes | None: ...

    async def set_value(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None: ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    async def subscribe(self, channel: str) -> Subscription: ...


class Student(BaseModel):
    name: str
    token_hash: str
    # The run the student's socket trains (a teacher watches it through this id).
    session_id: str | None = None


class Room(BaseModel):
    code: str
    teacher_hash: str
    students: dict[str, Student] = Field(default_factory=dict)
    locked: bool = False
    spotlight: str | None = None
    lesson: LabConfig | None = None
    hide: list[str] = Field(default_factory=list)
    challenge: str | None = None
    results: list[ChallengeResult] = Field(default_factory=list)

    def roster(self) -> list[RosterEntry]:
        return [RosterEntry(id=i, name=s.name) for i, s in self.students.items()]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_name(name: str) -> str:
    """A display name as plain text: control characters out, spaces squeezed, bounded."""
    text = " ".join("".join(c for c in name if c.isprintable()).split())
    if not text:
        raise RoomError("name", "type a display name")
    if len(text) > MAX_NAME_LENGTH:
        raise RoomError("name", f"a display name has at most {MAX_NAME_LENGTH} characters")
    return text


class GuessLimiter:
    """Wrong room codes per client in a sliding window: guessing a code takes forever."""

    def __init__(self, limit: int = MAX_GUESSES, window: float = GUESS_WINDOW_SECONDS) -> None:
        self.limit, self.window = limit, window
        self._misses: defaultdict[str, deque[float]] = defaultdict(deque)

    def check(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        misses = self._misses[client]
        while misses and now - misses[0] > self.window:
            misses.popleft()
        if not misses:
            del self._misses[client]
        elif len(misses) >= self.limit:
            raise RoomError("code", "too many wrong room codes: wait a minute and try again")

    def missed(self, client: str, now: float | None = None) -> None:
        self._misses[client].append(time.monotonic() if now is None else now)


class RoomBook:
    def __init__(self, values: RoomStore, idle_seconds: float = ROOM_IDLE_SECONDS) -> None:
        self.values = values
        self.idle_seconds = idle_seconds
        self.guesses = GuessLimiter()
        # Read-modify-write of one room at a time in this replica.
        self._lock = asyncio.Lock()

    async def get(self, code: str) -> Room | None:
        if not CODE_SHAPE.fullmatch(code):
            return None  # not a code this server hands out: never a store key
        raw = await self.values.get_value(f"room:{code}")
        return None if raw is None else Room.model_validate_json(raw)

    async def save(self, room: Room) -> None:
        # Every write starts the idle expiry again.
        await self.values.set_value(
            f"room:{room.code}", room.model_dump_json().encode(), self.idle_seconds
        )

    async def create(self) -> tuple[Room, str]:
        """A new room and its teacher secret (192 random bits; only its hash is stored)."""
        secret = secrets.token_urlsafe(24)
        async with self._lock:
            while True:
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                if await self.get(code) is None:
                    break
            room = Room(code=code, teacher_hash=digest(secret))
            await self.save(room)
        return room, secret

    async def find(self, code: str, client: str) -> Room:
        """The room of `code`; a client that keeps missing is refused before looking."""
        self.guesses.check(client)
        room = await self.get(code.strip().upper())
        if room is None:
            self.guesses.missed(client)
            raise RoomError("code", "no class with that code (check it with your teacher)")
        return room

    async def join(self, code: str, name: str, client: str) -> tuple[Room, str, str]:
        """Room, student id and the student's token (128 random bits)."""
        text = clean_name(name)
        async with self._lock:
            room = await self.find(code, client)
            if len(room.students) >= MAX_ROOM_SIZE:
                raise RoomError("code", f"this class is full ({MAX_ROOM_SIZE} students)")
            student_id, token = secrets.token_urlsafe(8), secrets.token_urlsafe(16)
            room.students[student_id] = Student(name=text, token_hash=digest(token))
            await self.save(room)
        return room, student_id, token

    async def student(self, code: str, token: str, client: str) -> tuple[Room, str]:
        """The room and student id a student token stands for; a wrong one counts as a guess."""
        self.guesses.check(client)
        room = await self.get(code)
        if room is not None:
            wanted = digest(token)
            for student_id, student in room.students.items():
                if hmac.compare_digest(student.token_hash, wanted):
                    return room, student_id
        self.guesses.missed(client)
        raise RoomError("token", "not a student of this class: join again from the class link")

    async def teacher(self, code: str, secret: str, client: str) -> Room:
        """The room, if `secret` is its teacher's; a wrong one counts as a guess."""
        self.guesses.check(client)
        room = await self.get(code)
        if room is None or not hmac.compare_digest(room.teacher_hash, digest(secret)):
            self.guesses.missed(client)
            raise RoomError("secret", "not this class's teacher link")
        return room

    async def change(self, code: str, **fields: object) -> Room:
        """Set some of the room's fields (lock, spotlight, lesson…) and save it."""
        async with self._lock:
            room = await self.get(code)
            if room is None:
                raise RoomError("code", "this class has ended")
            room = room.model_copy(update=fields)
            await self.save(room)
        return room

    async def place(self, code: str, student: str, session_id: str) -> Room:
        """The student's socket trains `session_id` from now on."""
        async with self._lock:
            room = await self.get(code)
            if room is None or student not in room.students:
                raise RoomError("code", "this class has ended")
            room.students[student].session_id = session_id
            await self.save(room)
        return room

    async def record(self, code: str, result: ChallengeResult) -> bool:
        """A met challenge, once per student and challenge; False if already there."""
        async with self._lock:
            room = await self.get(code)
            if room is None:
                return False
            if any(
                r.student == result.student and r.challenge == result.challenge
                for r in room.results
            ):
                return False
            room.results.append(result)
            await self.save(room)
        return True
