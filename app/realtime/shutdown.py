"""Graceful shutdown: on SIGTERM, tell every page before the server closes the sockets.

uvicorn closes websockets (code 1012) before the app's lifespan hears of a shutdown, so the
notice has to go out from a SIGTERM handler placed in front of the server's own.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

# Long enough for each page's sender to write the notice; short beside Docker's 10 s stop.
NOTICE_GRACE_SECONDS = 0.5
# A page that stopped reading holds its socket open until its buffer drains, which may be
# never; past this the server stops waiting for such sockets (uvicorn's "second Ctrl+C").
FORCE_EXIT_AFTER_SECONDS = 3.0


@contextmanager
def notice_before_exit(
    announce: Callable[[], None], loop: asyncio.AbstractEventLoop
) -> Iterator[None]:
    """While inside, SIGTERM first runs `announce` on the loop, then after a short grace hands
    the signal to the handler that was there before (the server's), and, should the server
    still be waiting on sockets a few seconds later, tells it to stop waiting."""
    previous = signal.getsignal(signal.SIGTERM)
    # Only the main thread may set handlers (TestClient runs the lifespan in another), and
    # with no server handler to hand over to, SIGTERM's default is the right behaviour.
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    server_handler: Callable[[int, FrameType | None], object] = previous
    pending: list[asyncio.TimerHandle] = []
    signalled = False

    def begin_shutdown() -> None:
        announce()
        pending.append(loop.call_later(NOTICE_GRACE_SECONDS, server_handler, signal.SIGTERM, None))
        pending.append(
            loop.call_later(
                NOTICE_GRACE_SECONDS + FORCE_EXIT_AFTER_SECONDS,
                server_handler,
                signal.SIGINT,
                None,
            )
        )

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal signalled
        if signalled:
            server_handler(signum, frame)  # a second SIGTERM: no more grace
            return
        signalled = True
        loop.call_soon_threadsafe(begin_shutdown)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        for handle in pending:
            handle.cancel()
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, server_handler)
