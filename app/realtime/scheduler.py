"""The engine workers: a few torch threads shared by every session, in turn, a user's changes first.

A small model's step is mostly Python, and Python runs one thread at a time: two threads
training two sessions at once each went at well under half speed here (20 sessions: 526 steps/s
in all on two threads, 1,449 on one). So one worker by default, and sessions take turns on it.
Every playing session queues one burst at a time; the worker takes the one whose session has had
least worker time (its `turn`), and urgent jobs (a user's change, and the burst that shows it)
before any of them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import torch

T = TypeVar("T")

URGENT, IN_TURN = 0, 1


class Job(Generic[T]):
    """One piece of engine work and the future of its result; `promote` can move it forward."""

    __slots__ = ("work", "future", "urgent", "taken")

    def __init__(self, work: Callable[[], T], urgent: bool) -> None:
        self.work = work
        self.future: Future[T] = Future()
        self.urgent = urgent
        self.taken = False


class EngineScheduler:
    def __init__(self, workers: int, name: str = "train") -> None:
        self.workers = workers
        self._ready = threading.Condition()
        self._queue: list[tuple[int, float, int, Job[Any]]] = []
        self._order = itertools.count()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}_{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], T], urgent: bool = False, turn: float = 0.0) -> Job[T]:
        """Queue `work`: urgent jobs first in the order they came, then the lowest `turn`."""
        job = Job(work, urgent)
        with self._ready:
            if self._closed:
                raise RuntimeError("the engine workers have stopped")
            entry = (
                (URGENT, 0.0, next(self._order), job)
                if urgent
                else (IN_TURN, turn, next(self._order), job)
            )
            heapq.heappush(self._queue, entry)
            self._ready.notify()
        return job

    def promote(self, job: Job[Any]) -> None:
        """A waiting job goes before the round (its old place is skipped when reached)."""
        with self._ready:
            if job.taken or job.urgent:
                return
            job.urgent = True
            heapq.heappush(self._queue, (URGENT, 0.0, next(self._order), job))
            self._ready.notify()

    async def run(self, work: Callable[[], T], urgent: bool = False) -> T:
        return await asyncio.wrap_future(self.submit(work, urgent).future)

    def shutdown(self) -> None:
        """Cancel what waits, let running jobs finish, stop the threads."""
        with self._ready:
            self._closed = True
            waiting, self._queue = self._queue, []
            self._ready.notify_all()
        for *_, job in waiting:
            job.future.cancel()
        for thread in self._threads:
            thread.join()

    def _next_job(self) -> Job[Any] | None:
        with self._ready:
            while True:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return None
                *_, job = heapq.heappop(self._queue)
                if not job.taken:
                    job.taken = True
                    return job

    def _serve(self) -> None:
        # One torch thread per worker: these tiny ops only slow down when split across cores.
        torch.set_num_threads(1)
        while (job := self._next_job()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue  # its awaiting task was cancelled
            try:
                result = job.work()
            except BaseException as error:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
