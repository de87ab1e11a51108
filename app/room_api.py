"""Class rooms over HTTP: start a class, the join page, joining, and the results as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from app.room.book import RoomBook, RoomError, RoomStore
from app.room.challenges import CHALLENGES
from app.room.memory_store import MemoryRoomStore

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def shared_store(app: FastAPI) -> RoomStore | None:
    """The app's session store: `app.state.store`, or the registry's persistence store."""
    store: RoomStore | None = getattr(app.state, "store", None)
    if store is None:
        persistence = getattr(getattr(app.state, "registry", None), "persistence", None)
        store = getattr(persistence, "store", None)
    return store


def room_book(app: FastAPI) -> RoomBook:
    """The app's rooms, in the app's session store when it has one (shared by every replica),
    else in this process."""
    book: RoomBook | None = getattr(app.state, "room_book", None)
    if book is None:
        store: RoomStore = shared_store(app) or MemoryRoomStore()
        book = app.state.room_book = RoomBook(store)
    return book


def challenge_catalog() -> list[dict[str, Any]]:
    return [c.model_dump(include={"id", "title", "text"}) for c in CHALLENGES.values()]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


class JoinBody(BaseModel):
    code: str = Field(max_length=16)
    name: str = Field(max_length=200)


def refused(error: RoomError, status: int = 400) -> HTTPException:
    if "too many" in str(error):
        status = 429
    return HTTPException(status, detail={"field": error.field, "message": str(error)})


@router.post("/api/rooms")
async def start_class(request: Request) -> dict[str, Any]:
    """A new room: its code, the student link, and the teacher's secret (shown once)."""
    room, secret = await room_book(request.app).create()
    return {
        "code": room.code,
        "secret": secret,
        "student_link": f"/join/{room.code}",
        "teacher_link": f"/join/{room.code}#teacher={secret}",
        "challenges": challenge_catalog(),
    }


@router.get("/api/challenges")
async def challenges() -> list[dict[str, Any]]:
    """The challenges a teacher can push: id, title and what to do."""
    return challenge_catalog()


@router.get("/join/{code}", response_class=HTMLResponse, include_in_schema=False)
async def join_page(request: Request, code: str) -> HTMLResponse:
    # The code is only put in a form field (autoescaped); it is checked when the form is sent.
    return templates.TemplateResponse(request, "join.html", {"code": code[:16]})


@router.get("/join", response_class=HTMLResponse, include_in_schema=False)
async def join_blank(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "join.html", {"code": ""})


@router.post("/api/rooms/join")
async def join(request: Request, body: JoinBody) -> dict[str, str]:
    """A student in: the token its page gives the websocket (kept in the tab, not a cookie)."""
    try:
        room, student, token = await room_book(request.app).join(
            body.code, body.name, client_of(request)
        )
    except RoomError as error:
        raise refused(error) from error
    return {"code": room.code, "student": student, "token": token}


@router.get("/api/rooms/{code}/results.csv")
async def results_csv(
    request: Request, code: str, x_room_secret: str = Header(default="")
) -> Response:
    """Teacher only: who met which challenge at which step, with the settings."""
    try:
        room = await room_book(request.app).teacher(code, x_room_secret, client_of(request))
    except RoomError as error:
        raise refused(error, 403) from error
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "challenge", "met_at_step", "settings"])
    for r in room.results:
        # A name starting with = + - @ would be a formula in a spreadsheet: quote it as text.
        name = "'" + r.name if r.name[:1] in "=+-@" else r.name
        writer.writerow([name, r.challenge, r.step, r.settings])
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="class-{room.code}.csv"'},
    )
