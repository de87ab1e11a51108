"""One engine touch at a time per session, on the engine worker, never inside a group's burst."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Literal, TypeVar

from app.realtime.groups import TrainingGroups
from app.realtime.scheduler import EngineScheduler

T = TypeVar("T")
# What an engine touch does to a session training in a group: "whole" takes it out of the
# group first (anything that may write its state), "read" only brings it up to date.
Touch = Literal["whole", "read"]


class EngineLock:
    """One engine touch at a time per session, run on an engine worker before the round."""

    def __init__(self, scheduler: EngineScheduler) -> None:
        self.scheduler = scheduler
        self.lock = asyncio.Lock()
        # Set by the session's play loop: the training groups its engine may train in.
        self._groups: TrainingGroups | None = None
        self._session_id = ""

    def bind(self, groups: TrainingGroups, session_id: str) -> None:
        self._groups, self._session_id = groups, session_id

    async def run(self, work: Callable[[], T], touch: Touch = "whole") -> T:
        async with self.lock:
            return await self.scheduler.run(functools.partial(self.guarded, work, touch), True)

    async def read(self, work: Callable[[], T]) -> T:
        """`work` that only reads the engine (or copies from it): a run training in a group
        stays in it."""
        return await self.run(work, "read")

    def guarded(self, work: Callable[[], T], touch: Touch = "whole") -> T:
        """`work` on the engine as a whole, not in the middle of a group's burst."""
        groups = self._groups
        if groups is None:
            return work()
        with groups.lock:
            if touch == "whole":
                groups.withdraw(self._session_id)
            else:
                groups.sync_out(self._session_id)
            return work()
