"""HTTP routes for a run's history: its losses, learning rate and per-layer gradient figures,
as CSV or JSON (a download needs a URL, so this is not on the websocket); and the digits lab's
runs' training losses."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.http_api import live_session
from app.realtime.image_book import ImageRunBook
from app.training.history import HistoryError, history_csv, history_json
from app.training.images.history import branch_csv, branch_json

router = APIRouter(prefix="/api/sessions")
image_router = APIRouter(prefix="/api/images")

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
    return _download(body, fmt, f"backprop-lab-run-{run_id}.{fmt}")


@image_router.get("/{image_run_id}/runs/{run_id}/history.{fmt}")
async def image_run_history(
    request: Request, image_run_id: str, run_id: int, fmt: Literal["csv", "json"]
) -> Response:
    """A digits run's branch: its training loss per step. `image_run_id` is the page's run
    (its socket's id, a secret token); `run_id` a run of its runs list."""
    book: ImageRunBook = request.app.state.image_runs
    live = book.get(image_run_id)
    if live is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such digits run (it may have expired)")
    try:
        branch = live.branch(run_id)
    except HistoryError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    body = branch_csv(branch) if fmt == "csv" else branch_json(branch)
    return _download(body, fmt, f"backprop-lab-digits-run-{run_id}.{fmt}")


def _download(body: str, fmt: str, filename: str) -> Response:
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
