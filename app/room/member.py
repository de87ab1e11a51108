"""One socket's place in a room: a student's tile and verdicts, or the teacher's class view."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Literal

from app.protocol import ConfigureRequest, ControlRequest, SetRequest, StepFrame
from app.protocol.room import (
    ChallengeResult,
    ChallengeStatus,
    ClassTile,
    ClassTiles,
    RoomState,
)
from app.realtime.fanout import Subscriber
from app.realtime.session import LiveSession
from app.room.book import Room, RoomBook
from app.room.challenges import CHALLENGES
from app.room.checker import Verdict, check
from app.room.tiles import TileMaker
from app.store.base import Subscription

log = logging.getLogger(__name__)

# Tiles go out twice a second: every tile at the teacher is at most about 0.5 s old.
TILE_SECONDS = 0.5
# A tile not heard of for this long is shown as disconnected (its replica may be gone).
SILENT_SECONDS = 3.0
# How often a taught room's expiry starts again (far below the idle expiry of hours).
KEEP_ALIVE_SECONDS = 600.0


def channel(code: str) -> str:
    return f"room:{code}"


def tiles_channel(code: str) -> str:
    return f"room:{code}:tiles"


class RoomMember:
    """Runs beside the socket's sender; `own` is the socket's own run (never a watched one)."""

    def __init__(
        self,
        book: RoomBook,
        room: Room,
        role: Literal["teacher", "student"],
        student: str | None,
        own: LiveSession,
        page: Callable[[], Subscriber | None],
    ) -> None:
        self.book, self.room, self.role, self.student = book, room, role, student
        self.own = own
        self._page = page
        self.watching: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._verdict: Verdict | None = None
        name = room.students[student].name if student else ""
        self._tiles = TileMaker(student or "", name)

    @property
    def code(self) -> str:
        return self.room.code

    def send(self, message: RoomState | ClassTiles | ChallengeStatus) -> None:
        page = self._page()
        if page is not None:
            page.send(message)

    async def start(self) -> None:
        events = await self.book.values.subscribe(channel(self.code))
        self._tasks.append(asyncio.create_task(self._follow(events)))
        if self.role == "teacher":
            tiles = await self.book.values.subscribe(tiles_channel(self.code))
            self._tasks.append(asyncio.create_task(self._gather_tiles(tiles)))
            self._tasks.append(asyncio.create_task(self._keep_alive()))
        else:
            self.own.pages.on_frame.append(self._judge)
            self._tasks.append(asyncio.create_task(self._publish_tiles()))
        self.send_state()

    async def stop(self) -> None:
        if self._judge in self.own.pages.on_frame:
            self.own.pages.on_frame.remove(self._judge)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.role == "student":
            tile = self._tiles.tile(None, self.own.config, self.room.lesson)
            tile.connected = False
            try:
                await self.book.values.publish(
                    tiles_channel(self.code), tile.model_dump_json().encode()
                )
            except Exception:
                # The teacher's view greys the tile out anyway once it stops hearing of it.
                log.warning("room %s: could not say a student left", self.code, exc_info=True)

    def send_state(self) -> None:
        room = self.room
        self.send(
            RoomState(
                code=room.code,
                role=self.role,
                you=self.student,
                locked=room.locked,
                spotlight=room.spotlight,
                lesson=room.lesson,
                hide=room.hide,
                challenge=CHALLENGES.get(room.challenge or ""),
                roster=room.roster(),
                # A student sees its own results only: no one else's progress or settings.
                results=[
                    r for r in room.results if self.role == "teacher" or r.student == self.student
                ],
                watching=self.watching,
            )
        )

    async def announce(self, event: str) -> None:
        """Every member of the room (in every replica) hears of a change."""
        await self.book.values.publish(channel(self.code), json.dumps({"event": event}).encode())

    # ---- following the room -----------------------------------------------------------------

    async def _follow(self, events: Subscription) -> None:
        async with events:
            async for raw in events:
                event = json.loads(raw)["event"]
                room = await self.book.get(self.code)
                if room is None:
                    return
                self.room = room
                # The page hears first (the lesson on screen, the lock in force); the run's
                # rebuild then waits its turn on the engine workers.
                self.send_state()
                if self.role == "student" and event == "lesson":
                    await self._take_lesson()
                elif self.role == "student" and event == "reset":
                    await self.own.control(ControlRequest(type="control", action="reset"))

    async def _take_lesson(self) -> None:
        lesson = self.room.lesson
        self._verdict = None
        if lesson is None:
            return
        await self.own.configure(
            ConfigureRequest(type="configure", data=lesson.data, model=lesson.model)
        )
        training = lesson.training.model_dump()
        await self.own.set(SetRequest.model_validate({"type": "set", **training}))

    # ---- a student: tiles and verdicts ------------------------------------------------------

    async def _publish_tiles(self) -> None:
        while True:
            tile = self._tiles.tile(self.own.pages.latest, self.own.config, self.room.lesson)
            try:
                await self.book.values.publish(
                    tiles_channel(self.code), tile.model_dump_json().encode()
                )
            except Exception:
                # A store that is down for a moment costs tiles, not the student's socket.
                log.warning("room %s: a tile was not published", self.code, exc_info=True)
            await asyncio.sleep(TILE_SECONDS)

    def _judge(self, frame: StepFrame) -> None:
        """After every frame of the student's run: the server's verdict on the challenge."""
        challenge = CHALLENGES.get(self.room.challenge or "")
        if challenge is None or self.student is None:
            return
        if self._verdict is not None and self._verdict.state == "met":
            return
        verdict = check(
            challenge, self.own.config, frame.step, frame.test_loss, frame.test_accuracy
        )
        if verdict == self._verdict:
            return
        self._verdict = verdict
        met_at = frame.step if verdict.state == "met" else None
        self.send(
            ChallengeStatus(
                challenge=challenge.id,
                state=verdict.state,
                reasons=verdict.reasons,
                met_at_step=met_at,
            )
        )
        if met_at is not None:
            result = ChallengeResult(
                student=self.student,
                name=self._tiles.name,
                challenge=challenge.id,
                step=met_at,
                settings=self.own.config.model_dump_json(),
            )
            self._tasks.append(asyncio.create_task(self._record(result)))

    async def _record(self, result: ChallengeResult) -> None:
        if await self.book.record(self.code, result):
            await self.announce("result")

    # ---- the teacher: the class view --------------------------------------------------------

    async def _keep_alive(self) -> None:
        """A room is idle when nobody teaches it: while the teacher is here it does not expire."""
        while True:
            await asyncio.sleep(KEEP_ALIVE_SECONDS)
            try:
                await self.book.change(self.code)
            except Exception:
                log.warning("room %s: could not keep it alive", self.code, exc_info=True)

    async def _gather_tiles(self, tiles: Subscription) -> None:
        latest: dict[str, ClassTile] = {}
        seen: dict[str, float] = {}
        changed: set[str] = set()

        async def flush() -> None:
            while True:
                await asyncio.sleep(TILE_SECONDS)
                now = time.monotonic()
                for student, tile in latest.items():
                    if tile.connected and now - seen[student] > SILENT_SECONDS:
                        tile.connected = False
                        changed.add(student)
                if changed:
                    self.send(ClassTiles(tiles=[latest[s] for s in sorted(changed)]))
                    changed.clear()

        flusher = asyncio.create_task(flush())
        try:
            async with tiles:
                async for raw in tiles:
                    tile = ClassTile.model_validate_json(raw)
                    latest[tile.student] = tile
                    seen[tile.student] = time.monotonic()
                    changed.add(tile.student)
        finally:
            flusher.cancel()
