"""Class room messages: a student joins, a teacher teaches, tiles and challenge verdicts."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from app.protocol.base import ServerModel
from app.protocol.step import Heatmap
from app.room.challenges import Challenge
from app.training.config import LabConfig, StrictModel


def _shaped(pattern: str, what: str) -> AfterValidator:
    """Checked after parsing rather than as a schema `pattern`: the schema stays plain."""
    shape = re.compile(pattern)

    def check(value: str) -> str:
        if not shape.fullmatch(value):
            raise ValueError(f"not a {what}")
        return value

    return AfterValidator(check)


RoomCode = Annotated[str, Field(max_length=6), _shaped(r"[A-Z2-9]{6}", "room code")]
RoomSecret = Annotated[str, Field(max_length=64), _shaped(r"[A-Za-z0-9_-]{16,64}", "token")]
# The names a `hide=` set may list: data-testids and panel names.
HideName = Annotated[str, Field(max_length=40)]


class RoomJoinRequest(StrictModel):
    """A student's socket joins the room with the token /join gave it."""

    type: Literal["room_join"]
    code: RoomCode
    token: RoomSecret


class RoomTeachRequest(StrictModel):
    """The teacher's socket, proving the teacher secret."""

    type: Literal["room_teach"]
    code: RoomCode
    secret: RoomSecret


class RoomPushRequest(StrictModel):
    """Teacher only: a lesson (configuration, hidden controls, challenge) for everyone."""

    type: Literal["room_push"]
    config: LabConfig | None = None
    hide: list[HideName] = Field(default_factory=list, max_length=40)
    challenge: str | None = Field(None, max_length=40)


class RoomLockRequest(StrictModel):
    """Teacher only: "eyes on me" — every student's controls refused until unlocked."""

    type: Literal["room_lock"]
    locked: bool


class RoomSpotlightRequest(StrictModel):
    """Teacher only: one student's run on every screen (None ends it)."""

    type: Literal["room_spotlight"]
    student: str | None = Field(None, max_length=64)


class RoomResetRequest(StrictModel):
    """Teacher only: every student's run back to step 0."""

    type: Literal["room_reset"]


class RoomWatchRequest(StrictModel):
    """Watch a student's run, read-only (the teacher any, a student only the spotlighted one);
    None goes back to your own run."""

    type: Literal["room_watch"]
    student: str | None = Field(None, max_length=64)


class RosterEntry(ServerModel):
    id: str
    name: str


class ChallengeResult(ServerModel):
    student: str
    name: str
    challenge: str
    step: int
    settings: str


class RoomState(ServerModel):
    """The room as it stands, to every member after any change."""

    type: Literal["room_state"] = "room_state"
    code: str
    role: Literal["teacher", "student"]
    you: str | None = None
    locked: bool
    spotlight: str | None
    lesson: LabConfig | None
    hide: list[str]
    challenge: Challenge | None
    roster: list[RosterEntry]
    results: list[ChallengeResult]
    watching: str | None = None


class ClassTile(ServerModel):
    student: str
    name: str
    connected: bool
    step: int
    status: str
    train_loss: float | None
    test_loss: float | None
    test_accuracy: float | None
    # The recent training losses, oldest first, for the sparkline.
    sparkline: list[float | None]
    boundary: Heatmap | None
    # Settings that differ from the lesson pushed, as "name: value".
    differs: list[str]


class ClassTiles(ServerModel):
    """Teacher only: the tiles that changed since the last one (at least once a second)."""

    type: Literal["class_tiles"] = "class_tiles"
    tiles: list[ClassTile]


class ChallengeStatus(ServerModel):
    """The server's verdict on this page's run against the room's challenge."""

    type: Literal["challenge_status"] = "challenge_status"
    challenge: str
    state: Literal["working", "met", "outside_limits", "over_budget"]
    reasons: list[str]
    met_at_step: int | None
