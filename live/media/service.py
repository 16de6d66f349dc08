"""The media service: who may publish and watch, and the way to the media processes.

The gateway routes `media.publish` / `media.subscribe` / `media.stop` here (after its room-access
check); the WHIP/WHEP endpoints (live.media.api) come here too. No media runs in this process: the
relay runs in media processes (`live.media.worker`), this node's own (`LocalWorkers`, the default)
or `live media-worker`s reached through Redis (`RedisWorkers`, LIVE_MEDIA_WORKERS=1), and
`MediaCluster` routes each operation to the right one and spreads a live's viewers over them.

Permission to publish (`lives.may_publish`: the host, or a guest on stage, not banned or muted) is
checked on every offer and again whenever the room's stage changes (`stage.updated` on the room's
bus channel) or a moderation action lands: a publisher who lost the right is unpublished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from live.auth.tokens import Principal
from live.bus import Message, Subscription
from live.errors import ApiError, ErrorCode, not_found
from live.lives.service import LiveInfo, LiveService
from live.media import metrics
from live.media.cluster import MediaCluster, Placed, WorkerDirectory
from live.media.local import LocalWorkers
from live.media.passthrough import check_aiortc
from live.media.publications import Publications
from live.media.relay import MediaError
from live.media.sender import check_sender
from live.media.thumbnails import store_thumbnail
from live.room_id import RoomId, RoomKind
from live.rooms.channels import decode_event, room_channel
from live.rooms.hub import Hub
from live.services import Services

log = logging.getLogger("live.media")


def live_id(room: str) -> str:
    """The live of `room`; `invalid_request` for any other room (media is only sent in lives)."""
    try:
        found = RoomId.parse(room)
    except ValueError:
        found = None
    if found is None or found.kind is not RoomKind.LIVE:
        raise ApiError(ErrorCode.INVALID_REQUEST, "media is only sent in live rooms",
                       fields={"room": "not a live room"})
    return found.ident


def _api_error(exc: MediaError) -> ApiError:
    if exc.kind == "not_found":
        return ApiError(ErrorCode.NOT_FOUND, str(exc))
    if exc.kind == "conflict":
        return ApiError(ErrorCode.CONFLICT, str(exc))
    if exc.kind == "unavailable":
        return ApiError(ErrorCode.UNAVAILABLE, str(exc))
    return ApiError(ErrorCode.INVALID_REQUEST, str(exc), fields={"sdp": str(exc)})


class MediaService:
    def __init__(self, services: Services, lives: LiveService, hub: Hub, publications: Publications) -> None:
        self.services = services
        self.settings = services.settings
        self.lives = lives
        self.hub = hub
        self.loop: asyncio.AbstractEventLoop | None = None
        # room -> {user_id: kinds} of who publishes (from the workers' events, on every node)
        self.publications = publications
        self.published = publications.rooms
        self.communities: dict[str, str] = {}  # room -> community id
        self.local: LocalWorkers | None = None
        directory: WorkerDirectory
        if self.settings.media_workers:
            from live.media.redis_workers import RedisWorkers

            directory = RedisWorkers(self.settings)
        else:
            self.local = LocalWorkers(self.settings, self.settings.media_process_count, self._on_worker_event)
            directory = self.local
        self.cluster = MediaCluster(directory, self.settings.media_viewers_per_worker, self._restart,
                                    hears_viewers_leave=self.local is not None)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        # the media processes check too, but an incompatible aiortc should stop start-up here, loudly
        check_aiortc()
        check_sender()
        self.loop = asyncio.get_running_loop()
        self.cluster.start()
        metrics.watch(self.cluster.directory)
        self._sub = self.services.bus.subscription()
        self._watch = asyncio.create_task(self._watch_rooms(), name="media-stage-watch")
        self.services.events.on("live.started", self._on_live_started)
        self.services.events.on("live.ended", self._on_live_ended)
        self.services.events.on("moderation.action", self._on_moderation)

    async def shutdown(self) -> None:
        metrics.unwatch(self.cluster.directory)
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.close()
        with contextlib.suppress(Exception):
            await self.cluster.close()
        for task in list(self._tasks):
            task.cancel()

    # -- the interface the gateway and WHIP/WHEP use ---------------------------------------------
    async def publish(self, room: str, user: Principal, sdp: str) -> Placed:
        """Answer a publisher's offer; only the host or a guest on stage (not banned/muted)."""
        info = await self.live_info(room)
        if not await self.lives.may_publish(info.id, user.id):
            raise ApiError(ErrorCode.FORBIDDEN, "only the host and guests on stage can publish here")
        self.communities[room] = info.community_id
        await self._follow(room)
        try:
            return await self.cluster.publish(room, user.id, sdp, info.host_id, info.id)
        except MediaError as exc:
            raise _api_error(exc) from None

    async def subscribe(self, room: str, user: Principal, sdp: str, publisher: str | None) -> Placed:
        """Answer a viewer's offer for one publisher's media (default: the host)."""
        info = await self.live_info(room)
        target = publisher or info.host_id
        self.communities[room] = info.community_id
        try:
            return await self.cluster.subscribe(room, user.id, target, sdp)
        except MediaError as exc:
            raise _api_error(exc) from None

    async def stop(self, room: str, user: Principal, publisher: str | None) -> None:
        """Stop publishing (`publisher` omitted or oneself) and/or stop watching a publisher."""
        live_id(room)
        if publisher is None or publisher == user.id:
            await self._unpublish(room, user.id)
        if publisher != user.id:
            await self.cluster.unsubscribe(room, user.id, publisher)

    def publishers(self, room: str) -> dict[str, list[str]]:
        return self.publications.publishers(room)

    async def stats(self) -> dict[str, Any]:
        """Every media process's relay stats, by worker id (operators, tests)."""
        return await self.cluster.stats()

    # -- for WHIP/WHEP session expiry (live.media.api.Sessions) ------------------------------------
    async def subscribed(self, room: str, user_id: str, publisher_id: str) -> bool | None:
        """Whether a media process still holds `user_id`'s subscription to `publisher_id` in `room`
        (its peer connection has not failed or closed); None where this node cannot tell (it did
        not place that viewer, or the media processes are workers it hears only through Redis)."""
        return self.cluster.holds(room, publisher_id, user_id)

    # -- internals -------------------------------------------------------------------------------
    async def live_info(self, room: str) -> LiveInfo:
        lid = live_id(room)
        info = await self.lives.room_info(lid)
        if info is None:
            raise not_found("live")
        if info.status != "live":
            raise ApiError(ErrorCode.CONFLICT, "this live has ended")
        return info

    async def _unpublish(self, room: str, user_id: str) -> None:
        try:
            await self.cluster.unpublish(room, user_id)
        except MediaError as exc:
            raise _api_error(exc) from None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_worker_event(self, event: dict[str, Any]) -> None:
        """An event from one of this node's media processes (on this loop)."""
        kind, room = event.get("type"), event.get("room")
        if not isinstance(room, str):
            return
        if kind == "thumbnail":
            self._spawn(store_thumbnail(self.services.db, room, Path(str(event.get("path")))))
        elif kind == "viewer.left":
            self.cluster.viewer_left(room, str(event.get("publisher")), str(event.get("user_id")),
                                     str(event.get("worker")))
        elif kind in ("media.published", "media.unpublished") and isinstance(event.get("user_id"), str):
            self._spawn(self._announce(str(kind), room, event["user_id"], list(event.get("kinds") or [])))

    async def _announce(self, kind: str, room: str, user_id: str, kinds: list[str]) -> None:
        if kind == "media.published":
            self.published.setdefault(room, {})[user_id] = kinds
        else:
            self.published.get(room, {}).pop(user_id, None)
        try:
            await self.hub.publish(RoomId.parse(room), {"type": kind, "room": room, "user_id": user_id, "kinds": kinds})
        except Exception:
            log.warning("telling %s that %s's media changed failed", room, user_id, exc_info=True)

    async def _restart(self, room: str, publisher: str | None, users: list[str] | None) -> None:
        """The media path was lost: ask the room (or only the viewers of a dead edge) to negotiate."""
        event: dict[str, Any] = {"type": "media.restart", "room": room}
        if publisher is not None:
            event["publisher"] = publisher
        else:
            self.published.pop(room, None)
        if users is None:
            await self.hub.publish(RoomId.parse(room), event)
        else:
            for user in users:
                await self.hub.publish_user(user, event)

    async def _follow(self, room: str) -> None:
        if self._sub is not None and room_channel(room) not in self._sub.channels:
            await self._sub.subscribe(room_channel(room))

    async def _watch_rooms(self) -> None:
        assert self._sub is not None
        async for event in self._sub:
            if not isinstance(event, Message):
                continue  # a gap: the next stage change re-checks anyway
            try:
                decoded = decode_event(event.data)
            except Exception:  # noqa: BLE001 - a foreign publisher's bytes: skipped
                continue
            room = event.channel.removeprefix("room.")
            for ev in decoded if isinstance(decoded, list) else [decoded]:
                if not isinstance(ev, dict):
                    continue
                kind = ev.get("type")
                if kind == "stage.updated":
                    self._spawn(self._recheck(room))
                elif kind == "media.published" and isinstance(ev.get("user_id"), str):
                    # (with media workers, this is how this node learns who publishes)
                    self.published.setdefault(room, {})[ev["user_id"]] = list(ev.get("kinds") or [])
                elif kind == "media.unpublished" and isinstance(ev.get("user_id"), str):
                    self.published.get(room, {}).pop(ev["user_id"], None)

    async def _recheck(self, room: str) -> None:
        """Unpublish whoever in `room` may no longer publish (left the stage, banned, muted)."""
        lid = live_id(room)
        for user_id in list(self.published.get(room, {})):
            try:
                allowed = await self.lives.may_publish(lid, user_id)
            except Exception:
                log.warning("re-checking %s in %s failed", user_id, room, exc_info=True)
                continue
            if not allowed:
                log.info("media %s: %s may no longer publish; stopping their media", room, user_id)
                await self._unpublish(room, user_id)

    async def _on_moderation(self, payload: dict[str, Any]) -> None:
        """A ban or kick cuts the user's media in the community's lives at once, sending and
        watching; a mute or timeout stops their sending (`may_publish` says no while it lasts)."""
        community, user_id = payload.get("community_id"), payload.get("user_id")
        if not isinstance(user_id, str):
            return
        for room, cid in list(self.communities.items()):
            if cid != community:
                continue
            try:
                if payload.get("action") in ("ban", "kick"):
                    await self._unpublish(room, user_id)
                    await self.cluster.unsubscribe(room, user_id, None)
                elif user_id in self.published.get(room, {}):
                    await self._recheck(room)
            except Exception:
                log.warning("cutting %s's media in %s failed", user_id, room, exc_info=True)

    async def _on_live_started(self, payload: dict[str, Any]) -> None:
        if self.local is not None:
            self.local.warm()  # the host is about to publish: have the media processes ready

    async def _on_live_ended(self, payload: dict[str, Any]) -> None:
        live = payload.get("live") or {}
        lid = live.get("id")
        if not lid:
            return
        room = RoomId.live(str(lid))
        try:
            await self.cluster.end_room(room, "live ended")
        except Exception:
            log.warning("ending the media of %s failed", room, exc_info=True)
        self.published.pop(room, None)
        self.communities.pop(room, None)
        if self._sub is not None and room_channel(room) in self._sub.channels:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe(room_channel(room))
