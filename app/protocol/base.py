"""The base of every server → client message: NaN and infinity go out as null."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

RunStatus = Literal["idle", "running", "paused", "diverged"]


class ServerModel(BaseModel):
    # NaN/inf never reach the browser as invalid JSON: they are written as null.
    model_config = ConfigDict(ser_json_inf_nan="null")
