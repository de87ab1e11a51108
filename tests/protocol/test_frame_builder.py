"""Building a frame reads the engine and changes nothing; showing it is what records the path."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import torch

from app.realtime.scheduler import EngineScheduler
from app.realtime.session import LiveSession
from app.settings import Settings
from app.training.session import TrainingSession


def test_a_built_frame_leaves_the_engine_the_path_and_the_phase_state_alone() -> None:
    scheduler, background = EngineScheduler(1, name="test"), ThreadPoolExecutor(1)
    try:
        session = LiveSession("s", TrainingSession(), Settings(), scheduler, background)
        engine = session.engine
        before = [p.detach().clone() for p in engine.model.parameters()]
        versions = dict(session.backprop.versions)

        first = session.loop.builder.build("paused", None, 0.0)
        again = session.loop.builder.build("paused", None, 0.0)

        assert len(session.surfaces.trajectory) == 0
        assert session.backprop.versions == versions
        assert engine.step_count == 0 and first.phase is None
        assert all(
            torch.equal(a, p) for a, p in zip(before, engine.model.parameters(), strict=True)
        )
        assert first.model_dump(exclude={"health_version"}) == again.model_dump(
            exclude={"health_version"}
        )
        # The frame a page is shown is a point of the optimizer's path.
        session.loop.frame()
        assert len(session.surfaces.trajectory) == 1
        asyncio.run(session.close())
    finally:
        scheduler.shutdown()
        background.shutdown()
