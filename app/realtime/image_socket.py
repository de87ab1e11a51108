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
    ImageCellRequest,
    ImageConfigureRequest,
    ImageControlRequest,
    ImageInspectRequest,
    ImageLandscapeRequest,
    ImageLoadRequest,
    ImageSampleRequest,
    ImageSaveRequest,
    image_client_adapter,
)
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
router = APIRouter()


class ImageConnection:
    def __init__(self, websocket: WebSocket, registry: SessionRegistry, settings: Settings):
        self.websocket = websocket
        self.settings = settings
        self.bucket = TokenBucket(settings.max_messages_per_second)
        # Frames, answers and errors come from several tasks: one writes at a time.
        self._writing = asyncio.Lock()
        self.live = ImageLive(registry.scheduler, registry.playing, self.send)

    async def send(self, text: str) -> None:
        async with self._writing:
            await self.websocket.send_text(text)

    async def error(self, field: str | None, message: str) -> None:
        await self.send(ErrorFrame(field=field, message=message).model_dump_json())

    async def serve(self) -> None:
        try:
            await self.live.open(ImageLabConfig())
            while (text := await self.receive()) is not None:
                try:
                    request = image_client_adapter.validate_json(text)
                except ValidationError as error:
                    await self.send(describe_validation_error(error, text).model_dump_json())
                    continue
                await self.dispatch(request)
        except WebSocketDisconnect:
            return
        finally:
            await self.live.close()

    async def receive(self) -> str | None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text is None:
                await self.error(None, "send JSON text, not binary")
                continue
            if len(text.encode()) > self.settings.max_message_bytes:
                limit = self.settings.max_message_bytes
                await self.websocket.close(CLOSE_MESSAGE_TOO_BIG, f"message over {limit} bytes")
                return None
            if self.bucket.allow():
                return str(text)
            limit_rate = self.settings.max_messages_per_second
            await self.error(None, f"too many messages: at most {limit_rate:g} a second; dropped")

    async def dispatch(self, request: BaseModel) -> None:
        try:
            if isinstance(request, ImageConfigureRequest):
                await self.live.configure(request)
            elif isinstance(request, ImageControlRequest):
                await self.live.control(request.action)
            elif isinstance(request, ImageInspectRequest):
                await self.live.inspect(request)
            elif isinstance(request, ImageCellRequest):
                await self.live.open_cell(request)
            elif isinstance(request, ImageSampleRequest):
                await self.live.check_sample(request)
            elif isinstance(request, ImageSaveRequest):
                await self.live.save()
            elif isinstance(request, ImageLoadRequest):
                await self.live.load(request)
            elif isinstance(request, ImageLandscapeRequest):
                await self.live.landscape(request)
        except ValueError as error:
            await self.error(getattr(error, "field", None), str(error))
        except WebSocketDisconnect:
            raise
        except Exception:
            kind = getattr(request, "type", "?")
            log.exception("applying an %r message failed", kind)
            await self.error(None, f"internal error while applying '{kind}'; the session goes on")


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
    labs: set[ImageConnection] = websocket.app.state.image_labs
    if registry.attached() + len(labs) >= settings.max_sessions:
        busy = f"server busy: this server is full, all {settings.max_sessions} runs are in use"
        await websocket.send_text(ErrorFrame(field=None, message=busy).model_dump_json())
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "server busy")
        return
    connection = ImageConnection(websocket, registry, settings)
    labs.add(connection)
    try:
        await connection.serve()
    except DigitsUnavailable as error:
        await connection.error(None, str(error))
    finally:
        labs.discard(connection)
