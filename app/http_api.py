"""HTTP routes of a live session: download and upload a model file, upload points as CSV.

Files travel over HTTP rather than the websocket: a download needs a URL, and an upload's
size is checked against its limit while it streams in, before the whole body is read. The
session id the page got in its `session` message is the (unguessable) key.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel

from app import limits
from app.realtime.registry import SessionRegistry
from app.realtime.session import LiveSession
from app.security import origin_allowed
from app.settings import Settings
from app.training.checkpoints import CheckpointError
from app.training.config import LabConfig
from app.training.csv_data import CsvDataError

router = APIRouter(prefix="/api/sessions")


class CheckpointLoaded(BaseModel):
    """The settings the model file brought; the page shows them in its controls."""

    config: LabConfig


class PointsLoaded(BaseModel):
    train_points: int
    test_points: int


def live_session(request: Request, session_id: str) -> LiveSession:
    registry: SessionRegistry = request.app.state.registry
    session = registry.sessions.get(session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session (it may have expired)")
    return session


def same_origin(request: Request) -> None:
    """Uploads change a run: only the page's own origin may send them (as for the websocket)."""
    settings: Settings = request.app.state.settings
    if not origin_allowed(
        request.headers.get("origin"), request.headers.get("host"), settings.allowed_origins
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "origin not allowed")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed `max_bytes`."""
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"the file is larger than {max_bytes} bytes"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/{session_id}/checkpoint")
async def download_checkpoint(request: Request, session_id: str) -> Response:
    """The model file: the state_dict and the settings as JSON, one torch file."""
    raw, step = await live_session(request, session_id).save_checkpoint()
    return Response(
        raw,
        media_type="application/octet-stream",
        headers={
            "content-disposition": f'attachment; filename="backprop-lab-step-{step}.pt"',
            "cache-control": "no-store",
        },
    )


@router.post("/{session_id}/checkpoint")
async def upload_checkpoint(request: Request, session_id: str) -> CheckpointLoaded:
    """Load a model file (raw body); a bad file is a 400 that says why, and changes nothing."""
    same_origin(request)
    session = live_session(request, session_id)
    raw = await read_body(request, limits.MAX_CHECKPOINT_BYTES)
    try:
        config = await session.load_checkpoint(raw)
    except CheckpointError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return CheckpointLoaded(config=config)


@router.post("/{session_id}/points")
async def upload_points(request: Request, session_id: str) -> PointsLoaded:
    """Points as CSV (x1,x2,label; raw body); a bad file is a 400 naming the line."""
    same_origin(request)
    session = live_session(request, session_id)
    raw = await read_body(request, limits.MAX_CSV_BYTES)
    try:
        data = await session.use_csv(raw)
    except CsvDataError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return PointsLoaded(train_points=len(data.train_x), test_points=len(data.test_x))
