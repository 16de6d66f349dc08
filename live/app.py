"""The composition root: every part of a node made once, handed to those that need it, and run.

`create_app` declares the routes (each domain's `Api`, the gateway's WebSocket, the web client),
the middleware and the error policy. Its lifespan opens the database and the bus and makes the
`Node`: its parts made in dependency order, each given what it uses through its constructor (the
parts above a service reach it as the small Protocols it declares), then `Node.start` and
`Node.stop` run them in order. Nothing is looked up by name: `Node` is the whole list, typed, and
is what HTTP handlers see as `ctx.services` (each handler module declares what it needs of it).
The parts are given the node itself as their `Services` (settings, database, bus, clock...), so a
test that sets the node's clock moves time for all of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from live import heap, system
from live.auth.users import UserDirectory
from live.bus import open_bus
from live.chat.service import ChatService
from live.communities import follows, routes as communities, routes_social
from live.config import Settings
from live.events import Events
from live.http import openapi
from live.http.api import Api, routes
from live.http.errors import EXCEPTION_HANDLERS
from live.http.limits import BodySizeLimit
from live.lives import api as lives_api
from live.lives.sanctions import LiveSanctions
from live.lives.schedule import Schedule
from live.lives.service import LiveService
from live.me import api as me_api
from live.me.usage import UsageRecorder
from live.media import api as media_api, hls_api
from live.media.hls_service import HlsService
from live.media.hls_status import HlsStatus
from live.media.hls_viewers import HlsViewers
from live.media.publications import Publications
from live.media.service import MediaService
from live.media.sessions import Sessions
from live.metrics import HttpMetrics
from live.moderation import api as moderation_api
from live.notifications import api as notifications_api
from live.notifications.service import NotificationService
from live.rooms.access import RoomChecks
from live.rooms.hub import Hub
from live.rooms.presence import Presence
from live.safety import api as safety_api
from live.safety.guard import SuspensionGuard
from live.services import Services
from live.signaling import endpoint
from live.signaling.gateway import Gateway
from live.storage.db import Database
from live.storage.ids import new_id
from live.uploads import api as uploads_api
from live.uploads.service import Uploads
from live.uploads.storage import LocalMediaStore
from live.web import routes as web

log = logging.getLogger("live.app")


@dataclasses.dataclass(kw_only=True)
class Node(Services):
    """Every part of a running node (what `ctx.services` is to a handler), made from the core
    (`Services`) in `__post_init__`, lowest first."""

    hub: Hub = dataclasses.field(init=False)
    presence: Presence = dataclasses.field(init=False)
    notifications: NotificationService = dataclasses.field(init=False)
    chat: ChatService = dataclasses.field(init=False)
    lives: LiveService = dataclasses.field(init=False)
    live_sanctions: LiveSanctions = dataclasses.field(init=False)
    schedule: Schedule = dataclasses.field(init=False)
    media: MediaService = dataclasses.field(init=False)
    media_sessions: Sessions = dataclasses.field(init=False)
    room_checks: RoomChecks = dataclasses.field(init=False)
    gateway: Gateway = dataclasses.field(init=False)
    usage: UsageRecorder = dataclasses.field(init=False)
    hls: HlsService = dataclasses.field(init=False)
    uploads: Uploads = dataclasses.field(init=False)
    # What `stop` undoes, last started first (filled by `start`).
    _started: list[Callable[[], Awaitable[None]]] = dataclasses.field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        """Make every part (no I/O here), each given what it uses."""
        settings, db, bus = self.settings, self.db, self.bus
        self.hub = Hub(bus)
        self.presence = Presence(new_id(), bus.redis)
        hls_status = HlsStatus(settings.var_path, HlsViewers(bus.redis))
        publications = Publications()  # who sends media: written by media, read by lives
        self.notifications = NotificationService(self, self.hub)
        self.chat = ChatService(self)
        self.lives = LiveService(self, presence=self.presence, hls=hls_status, media=publications,
                                 notifier=self.notifications)
        self.live_sanctions = LiveSanctions(db, bus, self.events, self.lives)
        self.schedule = Schedule(self, self.lives, self.notifications, self.hub)
        self.media = MediaService(self, self.lives, self.hub, publications)
        self.media_sessions = Sessions(self, self.media, self.lives)
        self.room_checks = RoomChecks(db, self.lives, shared=False)
        self.gateway = Gateway(self, hub=self.hub, presence=self.presence, chat=self.chat, lives=self.lives,
                               media=self.media, hls=hls_status)
        self.usage = UsageRecorder(self, self.notifications, self.gateway)
        self.hls = HlsService(self, hls_status, self.lives, self.usage)
        self.uploads = Uploads(db, LocalMediaStore(settings.var_path / "uploads"))

    async def start(self) -> None:
        """Start the parts, in an order where each finds what it uses running; the events each
        part listens to are registered here or by its own `start`, in this order too (a domain
        event's listeners run in it)."""
        events = self.events
        self.write_guards.append(SuspensionGuard(self.db))
        self.uploads.start()
        self._started.append(self.uploads.stop)
        events.on("post.deleted", self.uploads.on_deleted)
        events.on("account.erased", self.uploads.on_deleted)
        events.on("moderation.action", self.chat.on_standing_changed)
        events.on("membership.changed", self.chat.on_standing_changed)
        events.on("moderation.action", self.chat.on_moderation_action)
        events.on("community.chat_settings", self.chat.on_chat_settings)
        events.on("live.ended", self.chat.on_live_ended)
        self._started.append(self.chat.writers.close)
        events.on("chat.message_deleted", self.lives.pins.on_chat_deleted)
        events.on("moderation.action", self.live_sanctions.on_moderation_action)
        events.on("moderation.notice", self.live_sanctions.on_moderation_notice)
        await self.lives.resume_timers()
        self._started.append(self.lives.close)
        self.schedule.start_loop()
        self._started.append(self.schedule.stop_loop)
        await self.notifications.start()
        self._started.append(self.notifications.stop)
        await self.gateway.start()
        self._started.append(self.gateway.stop)
        self.usage.start()
        self._started.append(self.usage.stop)
        await self.media.start()
        self._started.append(self.media.shutdown)
        self.media_sessions.start()
        self._started.append(self.media_sessions.close)
        await self.hls.start()
        self._started.append(self.hls.stop)

    async def stop(self) -> None:
        while self._started:
            stop = self._started.pop()
            try:
                await stop()
            except Exception:
                log.exception("stopping %s failed", getattr(stop, "__qualname__", stop))


# Every HTTP endpoint, by domain: `Node` must be what each module's handlers say they need.
APIS: tuple[Api[Node], ...] = (
    system.api,
    communities.api,
    routes_social.api,
    moderation_api.api,
    me_api.api,
    safety_api.api,
    uploads_api.api,
    lives_api.api,
    follows.api,
    notifications_api.api,
    media_api.api,
    hls_api.api,
    web.api,
)


def create_app(settings: Settings, *, extra_apis: Sequence[Api[Any]] = (), settle_heap: bool = False) -> Starlette:
    """The app of one node (`extra_apis`: endpoints added by tests). `settle_heap`: once started,
    set what start-up built aside from the garbage collector (`live.heap`; a serving process)."""
    apis = [*APIS, *extra_apis]
    all_routes: list[BaseRoute] = [*routes(apis), endpoint.ROUTE, *web.routes()]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url, synchronous=settings.sqlite_synchronous)
        bus = open_bus(settings)
        await bus.start()
        node = Node(settings=settings, db=db, bus=bus, users=UserDirectory(db), events=Events())
        app.state.services = node
        try:
            await node.start()
            if settle_heap:
                heap.settle()
            yield
        finally:
            await node.stop()
            await bus.close()
            await db.close()

    app = LiveApp(
        routes=all_routes,
        middleware=[
            Middleware(HttpMetrics),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, larger=uploads_api.body_limits(settings)),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    app.state.settings = settings
    app.state.openapi = openapi.Document(apis, {**endpoint.OPENAPI_EXTRA, **web.OPENAPI_EXTRA})
    return app


class LiveApp(Starlette):
    """The app, with its two hot paths answered at the front door, before the middleware stack.

    The gateway's WebSocket (`/v1/ws`: a connection lives for hours, and every layer would keep a
    frame alive for it) and HLS files (thousands of players reload together: every layer costs
    each request). Their routes stay declared, answering the same through the ordinary stack.
    """

    def __init__(self, *args: Any, forwarded_allow_ips: str = "127.0.0.1", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # X-Forwarded-For/-Proto from trusted proxies, for everything but HLS files (which read
        # neither the client's address nor the scheme): here, not around the app in uvicorn.
        self.proxied: Any = ProxyHeadersMiddleware(cast(Any, self._dispatch), trusted_hosts=forwarded_allow_ips)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = hls_api.PATH.match(scope["path"])
            if match is not None and scope["method"] in ("GET", "HEAD"):
                node: Node | None = getattr(self.state, "services", None)
                if node is not None:
                    scope["app"] = self
                    await hls_api.answer(node.hls, match.group(1), match.group(2), scope, send)
                    return
        await self.proxied(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/v1/ws":
            scope["app"] = self
            await endpoint.answer(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory live.app:app_from_env` (each worker builds its own app)."""
    return create_app(Settings.load(dev=os.environ.get("LIVE_DEV") == "1"), settle_heap=True)
