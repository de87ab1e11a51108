"""The loss surface and the optimizer race drawn on its plane."""

from __future__ import annotations

from typing import Literal

from app.protocol.base import ServerModel
from app.protocol.requests import RaceEntry, SurfaceRequest


class SurfaceGrid(ServerModel):
    """resolution² losses as base64 of little-endian uint16, row-major; row i lies at
    β = −span + 2·span·i/(resolution − 1) (row 0 at the BOTTOM), column j likewise at α.

    Code c < 65535 stands for low + c/65534·(high − low); 65535 marks a non-finite loss.
    """

    resolution: int
    low: float
    high: float
    data: str


class SurfacePath(ServerModel):
    """The recorded path, oldest first: its plane coordinates and distance off the plane."""

    steps: list[int]
    alpha: list[float]
    beta: list[float]
    residual: list[float]
    loss: list[float | None]


class LossLine(ServerModel):
    """The loss at evenly spaced points from the path's first parameters to the current ones."""

    start_step: int
    loss: list[float | None]
    distance: float


class SurfaceFrame(ServerModel):
    """A loss surface around the parameters at `step`, and the path on it.

    `center`, `d1`, `d2` are base64 float32 vectors of the nn.Linear parameters (each layer's
    weight row by row, then its bias): enough for the page to project each new frame's
    parameters onto the plane itself, by least squares as the server does.
    """

    type: Literal["surface"] = "surface"
    request: SurfaceRequest
    step: int
    span: float
    grid: SurfaceGrid
    center_loss: float | None
    center: str
    d1: str
    d2: str
    path: SurfacePath
    line: LossLine
    explained: list[float] | None
    compute_ms: float


class RacerPath(ServerModel):
    """One racer's recorded points, oldest first: its loss on the training set and its place
    on the current surface's plane (with the distance off it, as for the session's path)."""

    name: str
    entry: RaceEntry
    steps: list[int]
    loss: list[float | None]
    alpha: list[float]
    beta: list[float]
    residual: list[float]
    diverged_at: int | None


class RaceFrame(ServerModel):
    """An optimizer race from the weights at `start_step`, projected on the plane of the
    surface at `surface_step` (sent again, reprojected, whenever a new surface arrives)."""

    type: Literal["race"] = "race"
    start_step: int
    steps: int
    surface_step: int
    parameter_count: int
    racers: list[RacerPath]
    compute_ms: float
