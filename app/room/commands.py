"""The room messages of one socket: joining, teaching, and the teacher's actions."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from app.protocol import InspectRequest
from app.protocol.room import (
    RoomJoinRequest,
    RoomLockRequest,
    RoomPushRequest,
    RoomResetRequest,
    RoomSpotlightRequest,
    RoomTeachRequest,
    RoomWatchRequest,
)
from app.realtime.fanout import Subscriber
from app.realtime.session import LiveSession
from app.room.book import RoomBook, RoomError
from app.room.challenges import CHALLENGES
from app.room.member import RoomMember

ROOM_REQUESTS = (
    RoomJoinRequest,
    RoomTeachRequest,
    RoomPushRequest,
    RoomLockRequest,
    RoomSpotlightRequest,
    RoomResetRequest,
    RoomWatchRequest,
)
TEACHER_ONLY = (RoomPushRequest, RoomLockRequest, RoomSpotlightRequest, RoomResetRequest)


class RoomSocket(Protocol):
    """What a room needs of the websocket connection."""

    book: RoomBook
    client: str
    own: LiveSession | None
    session: LiveSession | None
    subscriber: Subscriber | None
    member: RoomMember | None

    @property
    def watching_elsewhere(self) -> bool:
        """Watching a run that another worker holds (relayed)."""

    def find_session(self, session_id: str) -> LiveSession | None: ...

    async def watch_elsewhere(self, session_id: str) -> bool:
        """Show the run another worker holds, relayed; False if none answers."""

    async def watch(self, session: LiveSession | None) -> None:
        """Show `session` read-only on this socket; None goes back to its own run."""


def room_refusal(socket: RoomSocket, request: BaseModel) -> str | None:
    """Why a run command is refused on this socket: a watched run is read-only, and "eyes on
    me" locks every student's controls."""
    if isinstance(request, (*ROOM_REQUESTS, InspectRequest)):
        return None  # hovering the plane reads the model, it changes nothing
    if socket.session is not socket.own or socket.watching_elsewhere:
        return "you are watching another run (read-only): go back to your own to change it"
    member = socket.member
    if member is not None and member.role == "student" and member.room.locked:
        return "your teacher has paused the controls (eyes on me)"
    return None


async def handle_room(socket: RoomSocket, request: BaseModel) -> None:
    """Apply one room message; RoomError says why it was refused (nothing changed)."""
    if isinstance(request, RoomJoinRequest | RoomTeachRequest):
        await _enter(socket, request)
        return
    member = socket.member
    if member is None:
        raise RoomError("type", "join a class first")
    if isinstance(request, RoomWatchRequest):
        await _watch(socket, member, request.student)
        return
    if member.role != "teacher" or not isinstance(request, TEACHER_ONLY):
        raise RoomError("type", "only the teacher can do that")
    await _teach(socket.book, member, request)


async def _enter(socket: RoomSocket, request: RoomJoinRequest | RoomTeachRequest) -> None:
    if socket.own is None:
        raise RoomError("type", "send 'hello' first")
    if socket.member is not None:
        await socket.member.stop()
        socket.member = None
    book = socket.book
    if isinstance(request, RoomTeachRequest):
        room = await book.teacher(request.code, request.secret, socket.client)
        member = RoomMember(book, room, "teacher", None, socket.own, lambda: socket.subscriber)
    else:
        room, student = await book.student(request.code, request.token, socket.client)
        if room.students[student].session_id != socket.own.id:
            room = await book.place(room.code, student, socket.own.id)
        member = RoomMember(book, room, "student", student, socket.own, lambda: socket.subscriber)
    socket.member = member
    await member.start()
    await member.announce("roster")


async def _watch(socket: RoomSocket, member: RoomMember, student: str | None) -> None:
    room = await member.book.get(member.code) or member.room
    member.room = room
    if student is None or student == member.student:
        member.watching = None
        await socket.watch(None)
        member.send_state()
        return
    if member.role != "teacher" and room.spotlight != student:
        raise RoomError("student", "you can watch only the run your teacher spotlights")
    entry = room.students.get(student)
    session_id = entry.session_id if entry else None
    session = socket.find_session(session_id) if session_id else None
    if session is not None:
        await socket.watch(session)
    elif not (session_id and await socket.watch_elsewhere(session_id)):
        raise RoomError("student", "that run is not open on this server right now")
    member.watching = student
    member.send_state()


async def _teach(book: RoomBook, member: RoomMember, request: BaseModel) -> None:
    code = member.code
    if isinstance(request, RoomPushRequest):
        challenge = CHALLENGES.get(request.challenge or "")
        if request.challenge is not None and challenge is None:
            raise RoomError("challenge", f"no challenge {request.challenge!r}")
        lesson = challenge.start if challenge and request.config is None else request.config
        await book.change(code, lesson=lesson, hide=request.hide, challenge=request.challenge)
        await member.announce("lesson")
    elif isinstance(request, RoomLockRequest):
        await book.change(code, locked=request.locked)
        await member.announce("lock")
    elif isinstance(request, RoomSpotlightRequest):
        room = member.room
        if request.student is not None and request.student not in room.students:
            raise RoomError("student", "no such student in this class")
        await book.change(code, spotlight=request.student)
        await member.announce("spotlight")
    elif isinstance(request, RoomResetRequest):
        await member.announce("reset")
