"""The websocket endpoint: validates every message, applies it, and streams frames back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app.protocol import (
    ConfigureRequest,
    ControlRequest,
    CurvatureRequest,
    EditPointsRequest,
    EditWeightRequest,
    ErrorFrame,
    HelloRequest,
    HiddenSpaceRequest,
    InspectRequest,
    OpenSweepCellRequest,
    RaceRequest,
    RewindRequest,
    SampleRequest,
    SessionInfo,
    SetRequest,
    SurfaceRequest,
    SweepRequest,
    SwitchNeuronRequest,
    client_message_adapter,
)
from app.realtime.fanout import Subscriber
from app.realtime.rate_limit import TokenBucket
from app.realtime.registry import SessionLimitError, SessionRegistry
from app.realtime.session import LiveSession
from app.realtime.surgery_commands import operate
from app.realtime.watch_relay import RemoteWatch
from app.room.book import RoomBook, RoomError
from app.room.commands import ROOM_REQUESTS, handle_room, room_refusal
from app.room.member import RoomMember
from app.room.memory_store import MemoryRoomStore
from app.room_api import room_book
from app.security import origin_allowed
from app.settings import Settings
from app.store.redis_store import RedisStore
from app.training.point_edits import PointEditError

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013


def stated_request_id(text: str) -> int | None:
    """The `request_id` a refused message carried, if it is one, so the page can roll back."""
    try:
        message: Any = json.loads(text)
    except (ValueError, RecursionError):  # pydantic refuses deep nesting that json cannot read
        return None
    found = message.get("request_id") if isinstance(message, dict) else None
    if isinstance(found, int) and not isinstance(found, bool) and 0 <= found < 2**31:
        return found
    return None


def describe_validation_error(error: ValidationError, text: str = "") -> ErrorFrame:
    """Name the first offending field and say why, the way a person can act on it."""
    frame = _describe(error)
    frame.request_id = stated_request_id(text)
    return frame


def _describe(error: ValidationError) -> ErrorFrame:
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return ErrorFrame(field=None, message=f"malformed JSON: {first['msg']}")
    location = [str(part) for part in first["loc"]]
    if first["type"] == "union_tag_invalid":
        tags = first.get("ctx", {}).get("expected_tags", "")
        got = first.get("ctx", {}).get("tag", "")
        return ErrorFrame(field="type", message=f"unknown message type {got!r}; expected {tags}")
    if first["type"] == "union_tag_not_found":
        return ErrorFrame(field="type", message="every message needs a 'type' field")
    # The first location entry is the message type (the union's tag); the rest is the field.
    field = ".".join(location[1:]) or None
    received = repr(first.get("input"))
    if len(received) > 60:
        received = received[:57] + "..."
    return ErrorFrame(field=field, message=f"{field}: {first['msg']} (received {received})")


async def _surface(session: LiveSession, page: Subscriber, request: SurfaceRequest) -> None:
    session.request_surface(request)


async def _race(session: LiveSession, page: Subscriber, request: RaceRequest) -> None:
    session.request_race(request)


async def _inspect(session: LiveSession, page: Subscriber, request: InspectRequest) -> None:
    page.send(await session.inspect(request))


async def _sample(session: LiveSession, page: Subscriber, request: SampleRequest) -> None:
    page.send(await session.sample(request))


async def _curvature(session: LiveSession, page: Subscriber, request: CurvatureRequest) -> None:
    session.deeper.request_curvature(request)


async def _hidden_space(
    session: LiveSession, page: Subscriber, request: HiddenSpaceRequest
) -> None:
    session.deeper.request_hidden_space(request)


async def _sweep(session: LiveSession, page: Subscriber, request: SweepRequest) -> None:
    session.deeper.request_sweep(request)


# What each message (after `hello`) does to the page's session; the page gets any answer.
Handler = Callable[[LiveSession, Subscriber, Any], Awaitable[None]]
HANDLERS: dict[type[BaseModel], Handler] = {
    ConfigureRequest: lambda session, page, request: session.configure(request),
    SetRequest: lambda session, page, request: session.set(request),
    ControlRequest: lambda session, page, request: session.control(request),
    EditPointsRequest: lambda session, page, request: session.edit_points(request),
    RewindRequest: lambda session, page, request: session.rewind(request),
    SurfaceRequest: _surface,
    RaceRequest: _race,
    InspectRequest: _inspect,
    SampleRequest: _sample,
    CurvatureRequest: _curvature,
    HiddenSpaceRequest: _hidden_space,
    SweepRequest: _sweep,
    OpenSweepCellRequest: lambda session, page, request: session.open_sweep_cell(request),
    EditWeightRequest: lambda session, page, request: operate(session, request),
    SwitchNeuronRequest: lambda session, page, request: operate(session, request),
}


class Connection:
    """One websocket: receives and validates, while a separate task does all the sending."""

    def __init__(
        self,
        websocket: WebSocket,
        registry: SessionRegistry,
        settings: Settings,
        book: RoomBook | None = None,
    ):
        self.websocket = websocket
        self.registry = registry
        self.settings = settings
        self.bucket = TokenBucket(settings.max_messages_per_second)
        self.session: LiveSession | None = None
        self.subscriber: Subscriber | None = None
        self.sender: asyncio.Task[None] | None = None
        # A class room: `own` is this socket's run; `session` may be a run it only watches.
        self.book = book or RoomBook(MemoryRoomStore())
        self.client = websocket.client.host if websocket.client else "?"
        self.own: LiveSession | None = None
        self.member: RoomMember | None = None
        # Watching a run another worker holds: its texts, relayed (app/realtime/watch_relay.py).
        self.remote: RemoteWatch | None = None

    async def serve(self) -> None:
        try:
            while (text := await self.receive()) is not None:
                try:
                    request = client_message_adapter.validate_json(text)
                except ValidationError as error:
                    await self.reply(describe_validation_error(error, text))
                    continue
                if not await self.dispatch(request):
                    return
        except WebSocketDisconnect:
            return
        finally:
            if self.remote is not None:
                await self.remote.close()
            if self.member is not None:
                await self.member.stop()
            if self.own is not None and self.session is not self.own:
                # Gone while watching another run: its own run may expire like any other.
                self.own.detached_at = time.monotonic()
            if self.sender is not None:
                self.sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self.sender
            if self.session is not None and self.subscriber is not None:
                await self.session.detach(self.subscriber)

    async def receive(self) -> str | None:
        """The next text message within the limits; None once the socket is done."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text is None:
                await self.reply(ErrorFrame(field=None, message="send JSON text, not binary"))
                continue
            if len(text.encode()) > self.settings.max_message_bytes:
                await self.websocket.close(
                    CLOSE_MESSAGE_TOO_BIG, f"message over {self.settings.max_message_bytes} bytes"
                )
                return None
            if self.bucket.allow():
                return str(text)
            limit = self.settings.max_messages_per_second
            await self.reply(
                ErrorFrame(
                    field=None, message=f"too many messages: at most {limit:g} a second; dropped"
                )
            )

    async def dispatch(self, request: BaseModel) -> bool:
        """Apply one valid message; False when the connection must end."""
        if isinstance(request, HelloRequest):
            if not await self.hello(request):
                return False
            if self.sender is None:
                self.sender = asyncio.create_task(self.send_forever())
            return True
        if await self._skipped(request) or self.session is None or self.subscriber is None:
            return True
        request_id = getattr(request, "request_id", None)
        refusal = room_refusal(self, request)
        if refusal is not None:
            await self.reply(ErrorFrame(field=None, message=refusal, request_id=request_id))
            return True
        try:
            if isinstance(request, ROOM_REQUESTS):
                await handle_room(self, request)
            else:
                await HANDLERS[type(request)](self.session, self.subscriber, request)
        except RoomError as error:
            await self.reply(ErrorFrame(field=error.field, message=str(error)))
        except PointEditError as error:
            await self.reply(ErrorFrame(field="edit_points", message=str(error)))
        except ValueError as error:
            # The engine refuses a setting it cannot honour; it says why, nothing changed.
            field = getattr(error, "field", None)
            await self.reply(ErrorFrame(field=field, message=str(error), request_id=request_id))
        except WebSocketDisconnect:
            raise
        except Exception:
            # A bug in one command must not take the socket, and the run, down with it.
            kind = getattr(request, "type", "?")
            log.exception("applying a %r message failed", kind)
            await self.reply(
                ErrorFrame(
                    field=None,
                    message=f"internal error while applying '{kind}'; the session goes on",
                    request_id=request_id,
                )
            )
        return True

    def find_session(self, session_id: str) -> LiveSession | None:
        return self.registry.sessions.get(session_id)

    async def _skipped(self, request: BaseModel) -> bool:
        """Not applied: before a hello (said), or hovering while watching a relayed run."""
        if self.session is None or self.subscriber is None:
            await self.reply(ErrorFrame(field="type", message="send 'hello' first"))
            return True
        # Hovering reads the model in memory, and the watched run is in another worker's: no
        # readout, rather than the socket's own run's under the watched run's picture.
        return self.remote is not None and isinstance(request, InspectRequest)

    @property
    def watching_elsewhere(self) -> bool:
        return self.remote is not None

    async def watch_elsewhere(self, session_id: str) -> bool:
        """Show the run another worker holds, relayed through the store; False when the store
        reaches no other process (one server, SQLite) or no worker holds the run."""
        if not isinstance(self.book.values, RedisStore) or self.own is None:
            return False
        await self.watch(None)
        wakeup = asyncio.Event()
        remote = RemoteWatch(self.book.values, session_id, wakeup)
        if not await remote.start():
            return False
        assert self.session is not None and self.subscriber is not None
        await self.session.detach(self.subscriber)
        # Left only to watch: its run must wait for this socket, not expire meanwhile.
        self.own.detached_at = None
        old, self.subscriber = self.subscriber, Subscriber()
        # The sender waits on this subscriber: the relayed texts and this socket's replies.
        self.subscriber.wakeup = wakeup
        self.remote = remote
        old.wakeup.set()
        return True

    async def watch(self, session: LiveSession | None) -> None:
        """Show `session` on this socket (None: its own run again), as a hello would."""
        if self.remote is not None:
            await self.remote.close()
            self.remote = None
            # Back from a relayed run: this socket is a page of its own run again.
            assert self.own is not None and self.subscriber is not None
            relayed, self.session = self.subscriber, self.own
            self.subscriber = await self.own.attach()
            relayed.wakeup.set()
        target = session or self.own
        if target is None or target is self.session:
            return
        if self.session is not None and self.subscriber is not None:
            await self.session.detach(self.subscriber)
        if self.own is not None and self.session is self.own:
            # Left only to watch: its run must wait for this socket, not expire meanwhile.
            self.own.detached_at = None
        old = self.subscriber
        self.subscriber = await target.attach()
        self.session = target
        if old is not None:
            # The sender waits on the old subscriber: wake it so it moves to the new one.
            old.wakeup.set()

    async def hello(self, request: HelloRequest) -> bool:
        if self.remote is not None:
            # A hello ends a relayed watch too: the socket's texts are its own run's again.
            await self.remote.close()
            self.remote = None
        if self.member is not None:
            await self.member.stop()
            self.member = None
        previous, old_subscriber = self.session, self.subscriber
        replacing = False
        if previous is not None and old_subscriber is not None:
            await previous.detach(old_subscriber)
            if request.session_id != previous.id:
                # This socket leaves its run for another: drop it now rather than keep it for
                # the TTL, or one socket saying hello in a loop could fill the server.
                await self.registry.drop_if_unwatched(previous)
                replacing = previous.id not in self.registry.sessions
        # The page names its run in the URL too (?session=, what a balancer routes on).
        wanted = request.session_id or self.websocket.query_params.get("session")
        address = self.websocket.client.host if self.websocket.client else ""
        try:
            opened = await self.registry.open(wanted, request.config, address, replacing)
        except SessionLimitError as error:
            await self.reply(ErrorFrame(field=None, message=str(error)))
            await self.websocket.close(CLOSE_TRY_AGAIN_LATER, "server busy")
            return False
        session = opened.session
        subscriber = await session.attach()
        self.session, self.subscriber, self.own = session, subscriber, session
        if old_subscriber is not None:
            # The sender waits on the old subscriber: wake it so it moves to the new one.
            old_subscriber.wakeup.set()
        self.subscriber.send(
            SessionInfo(
                session_id=session.id,
                resumed=opened.resumed,
                limits=self.settings.public_limits(),
                config=session.config,
                resumed_step=opened.resumed_step,
                notice=opened.notice,
            )
        )
        return True

    async def reply(self, message: ErrorFrame) -> None:
        """Errors go through the sender when there is one, so only one task ever writes."""
        if self.subscriber is not None:
            self.subscriber.send(message)
        else:
            await self.websocket.send_text(message.model_dump_json())

    async def send_forever(self) -> None:
        try:
            await self._send_all()
        except Exception:
            if self.websocket.application_state != WebSocketState.CONNECTED:
                return  # the page went away mid-send
            # A bug in what a page is owed must not leave it connected but dark, its run
            # training unseen: the page is told, and reconnects to its run.
            log.exception("sending to a page of session %s failed", self.session_id())
            with contextlib.suppress(Exception):
                await self.websocket.close(CLOSE_INTERNAL_ERROR, "internal error; reconnect")

    def session_id(self) -> str:
        return "?" if self.session is None else self.session.id

    async def _send_all(self) -> None:
        assert self.session is not None and self.subscriber is not None
        while True:
            subscriber = self.subscriber
            session = self.session
            await subscriber.wakeup.wait()
            subscriber.wakeup.clear()
            for text in self._texts(session, subscriber):
                if self.websocket.application_state != WebSocketState.CONNECTED:
                    return
                await self.websocket.send_text(text)
            if session.moved and session is self.session:
                # Its run moved to another replica: the page reconnects to wherever it is now.
                await self.websocket.close(CLOSE_SERVICE_RESTART, "run moved")
                return

    def _texts(self, session: LiveSession, subscriber: Subscriber) -> list[str]:
        if self.remote is None or subscriber is not self.subscriber:
            return session.pages.render(subscriber)
        # Watching a relayed run: this socket's own replies, then the run's texts.
        replies = [m.model_dump_json() for m in subscriber.outbox]
        subscriber.outbox.clear()
        return replies + self.remote.take()


@router.websocket("/ws")
async def session_socket(websocket: WebSocket) -> None:
    settings: Settings = websocket.app.state.settings
    registry: SessionRegistry = websocket.app.state.registry
    if not origin_allowed(
        websocket.headers.get("origin"), websocket.headers.get("host"), settings.allowed_origins
    ):
        await websocket.close(CLOSE_POLICY_VIOLATION, "origin not allowed")
        return
    await websocket.accept()
    await Connection(websocket, registry, settings, room_book(websocket.app)).serve()
