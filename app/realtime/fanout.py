"""The fan-out of one live session to its pages: what each page is owed, and its JSON texts."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from app.protocol import ErrorFrame, ServerModel, StepFrame, SurfaceFrame
from app.realtime.backprop import BackpropChannel
from app.realtime.frames import data_frame, loss_points
from app.realtime.health_frames import runs_frame
from app.training.session import TrainingSession

# A page whose frame has waited unread this long is stalled (its socket is full).
STALLED_PAGE_SECONDS = 0.5


class Subscriber:
    """One page's view of a session: only the *latest* frame is kept, so a slow page gets
    fewer, newer frames and never a growing queue. Messages like errors queue (bounded)."""

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()
        self.outbox: deque[ServerModel] = deque(maxlen=32)
        self.frame: StepFrame | None = None
        self.waiting_since = 0.0  # when the unread frame (the first of those it replaced) came
        # Like frames, only the newest loss surface waits to be sent.
        self.surface: SurfaceFrame | None = None
        self.history_generation = -1
        self.history_sent = 0
        self.data_version = -1
        self.runs_version = -1
        # Versions of the autograd graph and code listing this page has (BackpropChannel).
        self.backprop_sent: dict[str, int] = {}

    def send(self, message: ServerModel) -> None:
        self.outbox.append(message)
        self.wakeup.set()

    def offer(self, frame: StepFrame) -> None:
        if self.frame is None:
            self.waiting_since = time.monotonic()
        self.frame = frame
        self.wakeup.set()

    def stalled(self, now: float) -> bool:
        """This page has left a frame unread for STALLED_PAGE_SECONDS (its socket is full)."""
        return self.frame is not None and now - self.waiting_since > STALLED_PAGE_SECONDS

    def offer_surface(self, surface: SurfaceFrame) -> None:
        self.surface = surface
        self.wakeup.set()


class Pages:
    """The pages watching one session. Everything here runs on the event loop."""

    def __init__(self, engine: TrainingSession, backprop: BackpropChannel) -> None:
        self.engine = engine
        self.backprop = backprop
        self.subscribers: set[Subscriber] = set()
        # Goes up when the points change: each page is sent them once per version.
        self.data_version = 0
        # The newest frame, and who hears of each (a class room's tile and challenge checks).
        self.latest: StepFrame | None = None
        self.on_frame: list[Callable[[StepFrame], None]] = []

    def offer(self, frame: StepFrame) -> None:
        self.latest = frame
        for subscriber in self.subscribers:
            subscriber.offer(frame)
        for hook in self.on_frame:
            hook(frame)

    def offer_surface(self, surface: SurfaceFrame) -> None:
        for subscriber in self.subscribers:
            subscriber.offer_surface(surface)

    def send_to_all(self, message: ServerModel) -> None:
        for subscriber in self.subscribers:
            subscriber.send(message)

    def broadcast_error(self, field: str | None, message: str) -> None:
        self.send_to_all(ErrorFrame(field=field, message=message))

    def all_stalled(self, now: float) -> bool:
        """Every page has stopped reading (and there is at least one)."""
        return bool(self.subscribers) and all(s.stalled(now) for s in self.subscribers)

    def render(self, subscriber: Subscriber) -> list[str]:
        """Everything this page has not yet received, as JSON texts, oldest first."""
        out = [m.model_dump_json() for m in subscriber.outbox]
        subscriber.outbox.clear()
        if subscriber.data_version != self.data_version:
            subscriber.data_version = self.data_version
            out.append(data_frame(self.engine).model_dump_json())
        if subscriber.runs_version != self.engine.timeline.version:
            subscriber.runs_version = self.engine.timeline.version
            out.append(runs_frame(self.engine).model_dump_json())
        out.extend(m.model_dump_json() for m in self.backprop.unsent(subscriber.backprop_sent))
        surface, subscriber.surface = subscriber.surface, None
        if surface is not None:
            out.append(surface.model_dump_json())
        frame, subscriber.frame = subscriber.frame, None
        if frame is not None:
            out.append(self._with_losses(subscriber, frame).model_dump_json())
        return out

    def _with_losses(self, subscriber: Subscriber, frame: StepFrame) -> StepFrame:
        """The frame with the loss points this page has not had yet."""
        history, generation = self.engine.history, self.engine.history_generation
        reset = generation != subscriber.history_generation
        start = 0 if reset else subscriber.history_sent
        # Only points up to this frame's step: later ones go with the next frame.
        new = [r for r in history[start:] if r.step <= frame.step]
        subscriber.history_generation = generation
        subscriber.history_sent = start + len(new)
        return frame.model_copy(update={"losses": loss_points(new), "losses_reset": reset})
