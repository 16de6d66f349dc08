"""The Starlette app factory: every component's routes, one error policy, one lifespan."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from live.auth.users import UserDirectory
from live.bus import open_bus
from live.config import Settings
from live.events import Events
from live.http import openapi
from live.http.api import Api, routes
from live.http.errors import EXCEPTION_HANDLERS
from live.http.limits import BodySizeLimit
from live.metrics import HttpMetrics
from live.services import Services
from live.storage.db import Database

log = logging.getLogger("live.app")

# A component is a module with an `api: Api`, and optionally `websocket_routes() -> list`,
# `middleware() -> list` (outermost, before the app's own), `body_limits(settings) -> {path: bytes}`
# (paths taking bodies over LIVE_MAX_BODY_BYTES, e.g. uploads), `async start(services)` and
# `async stop(services)`. Order matters for start (stop is reversed).
COMPONENTS: tuple[str, ...] = (
    "live.http.system",
    "live.communities.routes",
    "live.communities.routes_social",
    "live.moderation.api",
    "live.me.api",
    "live.safety.api",
    "live.uploads.api",
    "live.lives.api",
    "live.lives.schedule",
    "live.lives.directory",
    "live.communities.follows",
    "live.notifications.api",
    "live.signaling.endpoint",
    "live.me.usage",
    "live.media.api",
    "live.media.hls_api",
    "live.web.routes",
)


def load_components(names: tuple[str, ...] = COMPONENTS) -> list[ModuleType]:
    return [importlib.import_module(name) for name in names]


def create_app(settings: Settings, *, components: tuple[str, ...] = COMPONENTS) -> Starlette:
    modules = load_components(components)
    apis: list[Api] = [m.api for m in modules if hasattr(m, "api")]
    all_routes: list[BaseRoute] = list(routes(apis))
    extra_docs: dict[str, Any] = {}
    for module in modules:
        if hasattr(module, "websocket_routes"):
            all_routes.extend(module.websocket_routes())
        extra_docs.update(getattr(module, "OPENAPI_EXTRA", {}))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url, synchronous=settings.sqlite_synchronous)
        bus = open_bus(settings)
        await bus.start()
        services = Services(
            settings=settings, db=db, bus=bus, users=UserDirectory(db), events=Events()
        )
        app.state.services = services
        started: list[ModuleType] = []
        try:
            for module in modules:
                if hasattr(module, "start"):
                    await module.start(services)
                    started.append(module)
            yield
        finally:
            for module in reversed(started):
                if hasattr(module, "stop"):
                    try:
                        await module.stop(services)
                    except Exception:
                        log.exception("stopping %s failed", module.__name__)
            await bus.close()
            await db.close()

    app = Starlette(
        routes=all_routes,
        middleware=[
            *(m for module in modules if hasattr(module, "middleware") for m in module.middleware()),
            Middleware(HttpMetrics),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, larger={
                path: limit for module in modules if hasattr(module, "body_limits")
                for path, limit in module.body_limits(settings).items()
            }),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.openapi = openapi.build(apis, extra_docs)
    return app


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory live.app:app_from_env` (each worker builds its own app)."""
    import os

    return create_app(Settings.load(dev=os.environ.get("LIVE_DEV") == "1"))
