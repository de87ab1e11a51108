"""The frame of a live session's engine as it is: built, never changing anything else.

Recording the surface path and refreshing the phase state are the caller's (PlayLoop.frame);
the only state kept here is the cache of the slow health figures.
"""

from __future__ import annotations

import time

from app.protocol import RunStatus, StepFrame
from app.realtime.frames import step_frame
from app.realtime.health_frames import FrameHealth, frame_health
from app.realtime.turns import PlayingSessions
from app.settings import Settings
from app.training.session import Evaluation, TrainingSession
from app.training.stacked.pictures import Pictures


class FrameBuilder:
    def __init__(
        self, engine: TrainingSession, settings: Settings, playing: PlayingSessions
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._playing = playing
        self._health_cache: tuple[float, int, FrameHealth] | None = None
        # Goes up when the health figures are fresh: a page redraws their charts only then.
        self.health_version = 0

    def build(
        self,
        status: RunStatus,
        message: str | None,
        steps_per_second: float,
        evaluation: Evaluation | None = None,
        pictures: Pictures | None = None,
    ) -> StepFrame:
        """The frame without its phase and losses; `evaluation` if a burst just computed it,
        `pictures` if the run's group painted it at this step."""
        frame = step_frame(
            self.engine,
            status,
            message,
            self.settings.boundary_resolution,
            self.settings.neuron_map_resolution,
            steps_per_second if status == "running" else 0.0,
            self._health(running=status == "running"),
            evaluation,
            pictures,
        )
        frame.health_version = self.health_version
        return frame

    def _health(self, running: bool) -> FrameHealth:
        """Health, distributions and optimizer state: fresh whenever the run stands still, and
        at most PlayingSessions.health_interval_seconds() old while it plays."""
        now, model = time.monotonic(), id(self.engine.model)
        cached = self._health_cache
        if (
            not running
            or cached is None
            or cached[1] != model  # rebuilt: other layers
            or now - cached[0] > self._playing.health_interval_seconds()
        ):
            cached = self._health_cache = (now, model, frame_health(self.engine))
            self.health_version += 1
        return cached[2]
