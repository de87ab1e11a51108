"""`/ws/images`: the digits lab's websocket. Validates every message, applies it to the page's
image run, and streams its frames; bad input gets an error frame and the run goes on."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect

from app.protocol import ErrorFrame
from app.protocol.images import (
    MAX_MODEL_FILE_BASE64,
    ImageCellRequest,
    ImageConfigureRequest,
    ImageControlRequest,
    ImageInspectRequest,
    ImageLandscapeRequest,
    ImageLoadRequest,
    ImageRewindRequest,
    ImageSampleRequest,
    ImageSaveRequest,
    image_client_adapter,
)
from app.realtime.image_book import ImageRunBook
from app.realtime.image_live import ImageLive
from app.realtime.rate_limit import TokenBucket
from app.realtime.registry import SessionRegistry
from app.realtime.websocket import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
    describe_validation_error,
)
from app.security import origin_allowed
from app.settings import Settings
from app.training.images.config import ImageLabConfig
from app.training.images.digits import DigitsUnavailable

log = logging.getLogger(__name__)
# A reloaded page asks for its run while the server may not yet have seen the old page's
# socket close: it waits this long for the run to be let go.
RESUME_WAIT_SECONDS = 2.0
router = APIRouter()


class ImageConnection:
    def __init__(
        self,
        websocket: WebSocket,
        registry: SessionRegistry,
        settings: Settings,
        book: ImageRunBook,
    ):
        self.websocket = websocket
        self.settings = settings
        self.book = book
        self.bucket = TokenBucket(settings.max_messages_per_second)
        # A model file's load message (≤ 200 kB as base64, ~267 kB) must arrive whole, to be
        # answered with the model or a clear error rather than a closed socket.
        self.max_message_bytes = max(settings.max_message_bytes, MAX_MODEL_FILE_BASE64 + 256)
        # Frames, answers and errors come from several tasks: one writes at a time.
        self._writing = asyncio.Lock()
        self._registry = registry
        self.live: ImageLive | None = None

    async def send(self, text: str) -> None:
        async with self._writing:
            await self.websocket.send_text(text)

    async def error(self, field: str | None, message: str) -> None:
        await self.send(ErrorFrame(field=field, message=message).model_dump_json())

    async def serve(self, run_id: str | None) -> None:
        """The page's run: the one it asks for if it is kept and free, else a new one."""
        try:
            resumed = await self.book.take(run_id, RESUME_WAIT_SECONDS)
            if resumed is not None:
                self.live = resumed
                await resumed.attach(self.send)
            else:
                # A new run under the id the page chose (so a balancer's affinity holds from
                # the first connect), unless that id is taken or not a token.
                fresh_id = self.book.free_id(run_id)
                live = ImageLive(
                    self._registry.scheduler,
                    self._registry.playing,
                    self.send,
                    fresh_id,
                    self.settings.history_max_bytes,
                    self.settings.history_recent_snapshots,
                )
                await live.open(ImageLabConfig())
                self.live = live
                self.book.add(live)
            while (text := await self.receive()) is not None:
                try:
                    request = image_client_adapter.validate_json(text)
                except ValidationError as error:
                    await self.send(describe_validation_error(error, text).model_dump_json())
                    continue
                await self.dispatch(self.live, request)
        except WebSocketDisconnect:
            return
        finally:
            if self.live is not None:
                await self.live.detach()
                self.book.release(self.live)

    async def receive(self) -> str | None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text is None:
                await self.error(None, "send JSON text, not binary")
                continue
            if len(text.encode()) > self.max_message_bytes:
                limit = self.max_message_bytes
                await self.websocket.close(CLOSE_MESSAGE_TOO_BIG, f"message over {limit} bytes")
                return None
            if self.bucket.allow():
                return str(text)
            limit_rate = self.settings.max_messages_per_second
            await self.error(None, f"too many messages: at most {limit_rate:g} a second; dropped")

    async def dispatch(self, live: ImageLive, request: BaseModel) -> None:
        try:
            await apply(live, request)
        except ValueError as error:
            await self.error(getattr(error, "field", None), str(error))
        except WebSocketDisconnect:
            raise
        except Exception:
            kind = getattr(request, "type", "?")
            log.exception("applying an %r message failed", kind)
            await self.error(None, f"internal error while applying '{kind}'; the session goes on")


async def apply(live: ImageLive, request: BaseModel) -> None:
    """One validated message, applied to the page's run."""
    if isinstance(request, ImageConfigureRequest):
        await live.configure(request)
    elif isinstance(request, ImageControlRequest):
        await live.control(request.action)
    elif isinstance(request, ImageInspectRequest):
        await live.inspect(request)
    elif isinstance(request, ImageCellRequest):
        await live.open_cell(request)
    elif isinstance(request, ImageSampleRequest):
        await live.check_sample(request)
    elif isinstance(request, ImageSaveRequest):
        await live.save()
    elif isinstance(request, ImageLoadRequest):
        await live.load(request)
    elif isinstance(request, ImageRewindRequest):
        await live.rewind(request)
    elif isinstance(request, ImageLandscapeRequest):
        await live.landscape(request)


@router.websocket("/ws/images")
async def image_socket(websocket: WebSocket) -> None:
    settings: Settings = websocket.app.state.settings
    registry: SessionRegistry = websocket.app.state.registry
    if not origin_allowed(
        websocket.headers.get("origin"), websocket.headers.get("host"), settings.allowed_origins
    ):
        await websocket.close(CLOSE_POLICY_VIOLATION, "origin not allowed")
        return
    await websocket.accept()
    book: ImageRunBook = websocket.app.state.image_runs
    if registry.attached() + book.attached() >= settings.max_sessions:
        busy = f"server busy: this server is full, all {settings.max_sessions} runs are in use"
        await websocket.send_text(ErrorFrame(field=None, message=busy).model_dump_json())
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "server busy")
        return
    connection = ImageConnection(websocket, registry, settings, book)
    try:
        await connection.serve(websocket.query_params.get("session"))
    except DigitsUnavailable as error:
        await connection.error(None, str(error))
