"""create_app(): assembles routes, static files, the page template and the session runner."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.allocator import tune_allocator
from app.exports import router as exports_router
from app.history_api import image_router as image_history_router
from app.history_api import router as history_api_router
from app.http_api import router as http_api_router
from app.image_exports import router as image_exports_router
from app.protocol import protocol_json_schema
from app.protocol.replies import ShutdownNotice
from app.realtime.image_book import ImageRunBook
from app.realtime.image_socket import router as image_socket_router
from app.realtime.registry import SessionRegistry
from app.realtime.shutdown import notice_before_exit
from app.realtime.watch_relay import WatchRelays
from app.realtime.websocket import router as websocket_router
from app.room_api import router as room_router
from app.security import SecurityHeadersMiddleware
from app.settings import Settings, get_settings
from app.store.errors import StoreUnavailable
from app.store.redis_store import RedisStore
from app.vendor import router as vendor_router

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
# The digits runs are written to the store as the server stops (app/realtime/image_book.py).
IMAGE_SHUTDOWN_NOTICE = ShutdownNotice(
    message="The server is restarting: this page reconnects when it is back and the digits "
    "run resumes where it stopped."
)


def _warm_torch() -> None:
    """torch imports its compiler stack (~1.7 s here) when the first optimizer is built: done
    at start, on a side thread, the first learner's run opens at once instead."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)])


async def start_watch_relays(app: FastAPI, registry: SessionRegistry) -> WatchRelays | None:
    """With a store every worker shares (Redis), this one relays the runs it holds to watchers
    on the others (a teacher's tile click, a spotlight)."""
    store = getattr(registry.persistence, "store", None)
    if not isinstance(store, RedisStore):
        return None
    relays = WatchRelays(registry.sessions, store)
    try:
        await relays.start()
    except StoreUnavailable:
        log.warning("the store is down: runs here cannot be watched from other workers")
        return None
    return relays


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Tiny models on shared cores: one intra-op thread beats two by far (measured on 2 cores).
    torch.set_num_threads(1)
    # Before the worker threads start: their arenas follow the setting.
    tune_allocator()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=_warm_torch, name="warm-torch", daemon=True).start()
        registry = SessionRegistry(settings)
        app.state.registry = registry
        await registry.start()
        app.state.image_runs.start(registry)
        relays = await start_watch_relays(app, registry)
        try:

            def announce() -> None:
                registry.announce_shutdown()
                app.state.image_runs.announce(IMAGE_SHUTDOWN_NOTICE)

            with notice_before_exit(announce, asyncio.get_running_loop()):
                yield
        finally:
            if relays is not None:
                await relays.stop()
            await app.state.image_runs.stop()  # written before the store closes
            await registry.stop()

    app = FastAPI(title="Backprop Lab", lifespan=lifespan)
    app.state.settings = settings
    # The digits lab's runs: attached ones count against max_sessions with the 2-D runs.
    app.state.image_runs = ImageRunBook(settings.session_ttl_seconds, settings.max_sessions)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    templates = Jinja2Templates(directory=ROOT / "templates")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "index.html", {"limits": settings.public_limits().model_dump()}
        )

    @app.get("/images", response_class=HTMLResponse, include_in_schema=False)
    async def images(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "images.html", {})

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        """Liveness: 200 while the process serves, also with the store down (it trains on in
        memory; `store.status` says "degraded" and why)."""
        registry: SessionRegistry = app.state.registry
        # Tasks and threads too, so a test can see that nothing leaks across many sessions.
        return {
            "status": "ok",
            "sessions": registry.count(),
            "attached": registry.attached(),
            "store": registry.persistence.health(),
            "tasks": len(asyncio.all_tasks()),
            "threads": threading.active_count(),
        }

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: 503 while shutting down or with every session in use, so a balancer
        sends new pages elsewhere."""
        registry: SessionRegistry = app.state.registry
        if registry.closing:
            return JSONResponse({"ready": False, "reason": "shutting down"}, 503)
        if registry.full():
            return JSONResponse({"ready": False, "reason": "every session is in use"}, 503)
        return JSONResponse({"ready": True, "reason": None})

    @app.get("/api/schema")
    async def schema() -> dict[str, object]:
        """JSON Schema of every websocket message, both directions."""
        return protocol_json_schema()

    app.include_router(websocket_router)
    app.include_router(image_socket_router)
    app.include_router(vendor_router)
    app.include_router(http_api_router)
    app.include_router(history_api_router)
    app.include_router(image_history_router)
    app.include_router(exports_router)
    app.include_router(image_exports_router)
    app.include_router(room_router)
    return app
