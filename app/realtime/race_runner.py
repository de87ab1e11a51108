"""A live session's optimizer race: run beside training, drawn on the loss surface's plane.

Like the surface, only the start (the weights, a few thousand floats) is copied under the
session's engine lock; the racers train on the background thread with the lock free. One race at a
time per session; a request arriving mid-race waits, and the newest waiting one wins. The last
race is kept so that each new surface gets it reprojected onto its plane, until a new run starts:
a race belongs to the run it was asked in (its losses are of that run's data), so `new_run`
forgets it and any race still waiting or running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from app.protocol import RaceEntry, RaceFrame, RaceRequest, RacerPath, ServerModel
from app.realtime.surface_runner import finite_list
from app.training.landscape import Landscape
from app.training.race import RacerRun, RacerSettings, RaceStart, project_race, run_race, take_start
from app.training.session import TrainingSession

log = logging.getLogger(__name__)


class FinishedRace:
    def __init__(self, start: RaceStart, steps: int, runs: list[RacerRun], ms: float) -> None:
        self.start, self.steps, self.runs, self.compute_ms = start, steps, runs, ms


def race_frame(race: FinishedRace, plane: Landscape) -> RaceFrame:
    projected = project_race(race.runs, plane.center, plane.d1, plane.d2)
    return RaceFrame(
        start_step=race.start.step,
        steps=race.steps,
        surface_step=plane.step,
        parameter_count=int(plane.center.numel()),
        racers=[
            RacerPath(
                name=p.run.settings.name,
                entry=RaceEntry(
                    optimizer=p.run.settings.optimizer,
                    learning_rate=p.run.settings.learning_rate,
                    momentum=p.run.settings.momentum,
                ),
                steps=p.run.steps,
                loss=finite_list(p.run.losses),
                alpha=p.coords[:, 0].tolist(),
                beta=p.coords[:, 1].tolist(),
                residual=p.residual.tolist(),
                diverged_at=p.run.diverged_at,
            )
            for p in projected
        ],
        compute_ms=race.compute_ms,
    )


class RaceRunner:
    """Call `request` for a race and `on_surface` after each new surface is published."""

    def __init__(
        self,
        engine: TrainingSession,
        executor: Executor,
        on_engine: Callable[[Callable[[], RaceStart]], Awaitable[RaceStart]],
        plane: Callable[[], Landscape | None],
        publish: Callable[[ServerModel], None],
        report_error: Callable[[str | None, str], None],
    ) -> None:
        self.engine = engine
        self._executor = executor
        self._on_engine = on_engine
        self._plane = plane
        self._publish = publish
        self._report_error = report_error
        self._waiting: RaceRequest | None = None
        # Counts new runs: a race asked in an earlier one is not published when it finishes.
        self._run = 0
        self._waiting_run = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.last: FinishedRace | None = None

    def request(self, request: RaceRequest) -> None:
        self._waiting, self._waiting_run = request, self._run
        if not self.busy and not self._closed:
            self._task = asyncio.create_task(self._race_while_waiting(), name="race")

    def on_surface(self) -> None:
        """The plane changed: the last race follows it (or is dropped with another network)."""
        if self.last is not None:
            self._send(self.last)

    def new_run(self) -> None:
        """The session starts a new run: the last race, and any asked before now, are dropped."""
        self._run += 1
        self._waiting = None
        self.last = None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        self._closed = True
        self._waiting = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _send(self, race: FinishedRace) -> None:
        plane = self._plane()
        if plane is None:
            return  # the first surface will bring it
        if plane.center.numel() != race.runs[0].params.shape[1]:
            self.last = None  # a race of another network: nothing to draw it on
            return
        self._publish(race_frame(race, plane))

    async def _race_while_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting is not None:
            request, self._waiting = self._waiting, None
            run = self._waiting_run
            entrants = [
                RacerSettings(e.optimizer, e.learning_rate, e.momentum) for e in request.entries
            ]
            try:
                start = await self._on_engine(lambda: take_start(self.engine))
                started = time.perf_counter()
                runs = await loop.run_in_executor(
                    self._executor,
                    functools.partial(run_race, start, entrants, request.steps, self._stopping),
                )
                compute_ms = (time.perf_counter() - started) * 1e3
            except ValueError as error:
                self._report_error("race", str(error))
                continue
            except Exception:
                log.exception("the optimizer race failed")
                self._report_error("race", "the optimizer race failed on an internal error")
                continue
            if self._closed:
                return
            if run != self._run:
                continue  # asked in a run that has since been replaced
            self.last = FinishedRace(start, request.steps, runs, compute_ms)
            self._send(self.last)

    def _stopping(self) -> bool:
        return self._closed
