"""HTTP routes for a run's history: its losses, learning rate and per-layer gradient figures,
as CSV or JSON (a download needs a URL, so this is not on the websocket)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.http_api import live_session
from app.training.history import HistoryError, history_csv, history_json

router = APIRouter(prefix="/api/sessions")

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


@router.get("/{session_id}/runs/{run_id}/history.{fmt}")
async def run_history(
    request: Request, session_id: str, run_id: int, fmt: Literal["csv", "json"]
) -> Response:
    engine = live_session(request, session_id).engine
    try:
        run = engine.run(run_id)
    except HistoryError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    # A copy of the list: the worker thread may append to the live run meanwhile.
    run.history = list(run.history)
    body = history_csv(run) if fmt == "csv" else history_json(run)
    filename = f"backprop-lab-run-{run_id}.{fmt}"
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
