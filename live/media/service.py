"""`services.components["media"]`: who may publish and watch, and the bridge to the relay thread.

The gateway routes `media.publish` / `media.subscribe` / `media.stop` here (after its room-access
check); the WHIP/WHEP endpoints (live.media.api) come here too. The relay itself runs on its own
thread and event loop (`RelayThread`): this service awaits it through `run_coroutine_threadsafe`,
and the relay's callbacks come back with `call_soon_threadsafe`, so no media work ever runs on the
loop that serves the gateway.

Permission to publish (`lives.may_publish`: the host, or a guest on stage, not banned or muted) is
checked on every offer and again whenever the room's stage changes (`stage.updated` on the room's
bus channel) or a moderation action lands: a publisher who lost the right is unpublished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from live.auth.tokens import Principal
from live.errors import ApiError, ErrorCode, not_found
from live.media.recorder import Recorders
from live.media.relay import MediaError, Relay, RelayThread
from live.media.thumbnails import Thumbnails
from live.rooms.channels import decode_event, room_channel

log = logging.getLogger("live.media")


def live_id(room: str) -> str:
    kind, _, lid = room.partition(":")
    if kind != "live" or not lid:
        raise ApiError(ErrorCode.INVALID_REQUEST, "media is only sent in live rooms",
                       fields={"room": "not a live room"})
    return lid


def _api_error(exc: MediaError) -> ApiError:
    if exc.kind == "not_found":
        return ApiError(ErrorCode.NOT_FOUND, str(exc))
    if exc.kind == "conflict":
        return ApiError(ErrorCode.CONFLICT, str(exc))
    return ApiError(ErrorCode.INVALID_REQUEST, str(exc), fields={"sdp": str(exc)})


class MediaService:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.settings = services.settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: RelayThread | None = None
        # room -> {user_id: kinds} of what this node relays (the relay's truth, mirrored here)
        self.published: dict[str, dict[str, list[str]]] = {}
        self.hosts: dict[str, str] = {}  # room -> host id, read by the recorder's and thumbnails' taps
        self.communities: dict[str, str] = {}  # room -> community id
        var = Path(self.settings.var_dir)
        # With media workers (LIVE_MEDIA_WORKERS) the relay, recorder and thumbnails run there.
        self.remote = bool(getattr(self.settings, "media_workers", False))
        self.workers: Any = None
        local = not self.remote
        self.recorders = Recorders(var / "recordings", self.hosts) if self.settings.recording and local else None
        self.thumbnails = (
            Thumbnails(var / "thumbnails", self.hosts, self.settings.thumbnail_seconds, self._thumbnail_written)
            if self.settings.thumbnail_seconds > 0 and local else None
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._sub: Any = None

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()

        def make() -> Relay:
            relay = Relay(
                ice_servers=self.settings.ice_servers,
                media_timeout=self.settings.media_timeout_seconds,
                min_bitrate=self.settings.media_min_bitrate,
                on_published=self._relay_published,
                on_unpublished=self._relay_unpublished,
            )
            if self.recorders is not None:
                relay.taps.append(self.recorders.tap)
            if self.thumbnails is not None:
                relay.taps.append(self.thumbnails.tap)
            return relay

        if self.remote:
            from live.media.workers import WorkerClient

            self.workers = WorkerClient(self.settings)
            self._sweeper = asyncio.create_task(self._sweep(), name="media-worker-sweep")
        else:
            self.thread = RelayThread(make)
            await asyncio.to_thread(self.thread.start)
        self._sub = self.services.bus.subscription()
        self._watch = asyncio.create_task(self._watch_rooms(), name="media-stage-watch")
        self.services.events.on("live.ended", self._on_live_ended)
        self.services.events.on("moderation.action", self._on_moderation)

    async def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.workers is not None:
            with contextlib.suppress(Exception):
                await self.workers.close()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.close()
        if self.thread is not None:
            await asyncio.to_thread(self.thread.stop)
        if self.recorders is not None:
            await asyncio.to_thread(self.recorders.close_all)
        if self.thumbnails is not None:
            await asyncio.to_thread(self.thumbnails.close)
        for task in list(self._tasks):
            task.cancel()

    @property
    def relay(self) -> Relay:
        assert self.thread is not None and self.thread.relay is not None
        return self.thread.relay

    # -- the interface the gateway and WHIP/WHEP use ---------------------------------------------
    async def publish(self, room: str, user: Principal, sdp: str) -> str:
        """Answer a publisher's offer; only the host or a guest on stage (not banned/muted)."""
        info = await self.live_info(room)
        lives = self.services.components["lives"]
        if not await lives.may_publish(info.id, user.id):
            raise ApiError(ErrorCode.FORBIDDEN, "only the host and guests on stage can publish here")
        self.hosts[room] = info.host_id
        self.communities[room] = info.community_id
        if self.recorders is not None and user.id == info.host_id:
            self.recorders.expect(room, info.id)
        await self._follow(room)
        try:
            return str(await self._op(room, "publish", user_id=user.id, sdp=sdp, host_id=info.host_id, lid=info.id))
        except MediaError as exc:
            raise _api_error(exc) from None

    async def subscribe(self, room: str, user: Principal, sdp: str, publisher: str | None) -> str:
        """Answer a viewer's offer for one publisher's media (default: the host)."""
        info = await self.live_info(room)
        target = publisher or info.host_id
        try:
            return str(await self._op(room, "subscribe", user_id=user.id, publisher_id=target, sdp=sdp))
        except MediaError as exc:
            raise _api_error(exc) from None

    async def stop(self, room: str, user: Principal, publisher: str | None) -> None:
        """Stop publishing (`publisher` omitted or oneself) and/or stop watching a publisher."""
        live_id(room)
        if publisher is None or publisher == user.id:
            await self._op(room, "unpublish", user_id=user.id)
        if publisher != user.id:
            await self._op(room, "unsubscribe", user_id=user.id, publisher_id=publisher)

    def publishers(self, room: str) -> dict[str, list[str]]:
        return dict(self.published.get(room, {}))

    # -- for WHIP/WHEP session expiry (live.media.api.Sessions) ------------------------------------
    async def subscribed(self, room: str, user_id: str, publisher_id: str) -> bool | None:
        """Whether the relay still holds `user_id`'s subscription to `publisher_id` in `room`
        (its peer connection has not failed or closed); None where this node cannot tell (the
        relay runs on a media worker)."""
        if self.thread is None or not self.thread.thread.is_alive():
            return None

        async def holds(relay: Relay) -> bool:
            publication = relay.publications.get((room, publisher_id))
            return publication is not None and user_id in publication.subscriptions

        return await self.thread.call(holds)

    # -- internals -------------------------------------------------------------------------------
    async def live_info(self, room: str) -> Any:
        lid = live_id(room)
        lives = self.services.components.get("lives")
        if lives is None:
            raise ApiError(ErrorCode.UNAVAILABLE, "live sessions are not available on this server")
        info = await lives.room_info(lid)
        if info is None:
            raise not_found("live")
        if info.status != "live":
            raise ApiError(ErrorCode.CONFLICT, "this live has ended")
        return info

    async def _op(self, room: str, op: str, **args: Any) -> Any:
        """Run a relay operation: on this node's relay thread, or on the room's media worker."""
        if self.workers is not None:
            wid = await self.workers.owner(room, place=op == "publish")
            if wid is None:
                if op == "subscribe":
                    raise MediaError("not_found", "that publisher is not sending media in this room")
                return None
            return await self.workers.call(wid, op, {"room": room, **args})
        if self.thread is None or not self.thread.thread.is_alive():
            raise ApiError(ErrorCode.UNAVAILABLE, "the media relay is not running")
        if op == "publish":
            return await self.thread.call(lambda r: r.publish(room, args["user_id"], args["sdp"]))
        if op == "subscribe":
            return await self.thread.call(
                lambda r: r.subscribe(room, args["user_id"], args["publisher_id"], args["sdp"]))
        if op == "unpublish":
            return await self.thread.call(lambda r: r.unpublish(room, args["user_id"]))
        if op == "unsubscribe":
            return await self.thread.call(lambda r: r.unsubscribe(room, args["user_id"], args["publisher_id"]))
        return await self.thread.call(lambda r: r.end_room(room, args.get("reason", "ended")))

    async def _sweep(self) -> None:
        """Media workers: rooms of a dead worker are freed and told `media.restart`."""
        while True:
            await asyncio.sleep(1.0)
            try:
                for room in await self.workers.sweep():
                    log.warning("media %s: its worker is gone; asking clients to negotiate again", room)
                    self.published.pop(room, None)
                    gateway = self.services.components.get("gateway")
                    if gateway is not None:
                        await gateway.publish_room(room, {"type": "media.restart", "room": room})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("the media worker sweep failed", exc_info=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _from_relay(self, coro_fn: Any, *args: Any) -> None:
        """Relay thread -> this loop."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(lambda: self._spawn(coro_fn(*args)))

    def _relay_published(self, room: str, user_id: str, kinds: list[str]) -> None:
        self._from_relay(self._announce, "media.published", room, user_id, kinds)

    def _relay_unpublished(self, room: str, user_id: str, kinds: list[str], reason: str) -> None:
        self._from_relay(self._announce, "media.unpublished", room, user_id, kinds)

    async def _announce(self, kind: str, room: str, user_id: str, kinds: list[str]) -> None:
        if kind == "media.published":
            self.published.setdefault(room, {})[user_id] = kinds
        else:
            self.published.get(room, {}).pop(user_id, None)
            if self.recorders is not None and self.hosts.get(room) == user_id:
                self.recorders.pause(room)
        gateway = self.services.components.get("gateway")
        if gateway is not None:
            try:
                await gateway.publish_room(room, {"type": kind, "room": room, "user_id": user_id, "kinds": kinds})
            except Exception:
                log.warning("telling %s that %s's media changed failed", room, user_id, exc_info=True)

    async def _follow(self, room: str) -> None:
        if self._sub is not None and room_channel(room) not in self._sub.channels:
            await self._sub.subscribe(room_channel(room))

    async def _watch_rooms(self) -> None:
        async for event in self._sub:
            data = getattr(event, "data", None)
            if data is None:
                continue  # a gap: the next stage change re-checks anyway
            try:
                decoded = decode_event(data)
            except Exception:
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
        lives = self.services.components.get("lives")
        if lives is None:
            return
        lid = live_id(room)
        for user_id in list(self.published.get(room, {})):
            try:
                allowed = await lives.may_publish(lid, user_id)
            except Exception:
                log.warning("re-checking %s in %s failed", user_id, room, exc_info=True)
                continue
            if not allowed:
                log.info("media %s: %s may no longer publish; stopping their media", room, user_id)
                await self._op(room, "unpublish", user_id=user_id)

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
                    await self._op(room, "unpublish", user_id=user_id)
                    await self._op(room, "unsubscribe", user_id=user_id, publisher_id=None)
                elif user_id in self.published.get(room, {}):
                    await self._recheck(room)
            except Exception:
                log.warning("cutting %s's media in %s failed", user_id, room, exc_info=True)

    async def _on_live_ended(self, payload: dict[str, Any]) -> None:
        live = payload.get("live") or {}
        lid = live.get("id")
        if not lid:
            return
        room = f"live:{lid}"
        if self.remote or (self.thread is not None and self.thread.thread.is_alive()):
            try:
                await self._op(room, "end_room", reason="live ended")
            except Exception:
                log.warning("ending the media of %s failed", room, exc_info=True)
            if self.workers is not None:
                await self.workers.forget(room)
        self.published.pop(room, None)
        if self.recorders is not None:
            await asyncio.to_thread(self.recorders.finish, room)
        if self.thumbnails is not None:
            self.thumbnails.forget(room)
        self.hosts.pop(room, None)
        self.communities.pop(room, None)
        if self._sub is not None and room_channel(room) in self._sub.channels:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe(room_channel(room))

    def _thumbnail_written(self, room: str, path: Path) -> None:
        """Thumbnail thread -> this loop: note the file on the live's row."""
        self._from_relay(self._store_thumbnail, room, path)

    async def _store_thumbnail(self, room: str, path: Path) -> None:
        await store_thumbnail(self.services.db, room, path)


async def store_thumbnail(db: Any, room: str, path: Path) -> None:
    """Note a fresh thumbnail file on the live's row (the live tab's `thumbnail_url`)."""
    from live.lives.models import Live
    from live.storage.base import utcnow

    try:
        async with db.session() as session:
            live = await session.get(Live, live_id(room))
            if live is not None:
                live.thumbnail_path = str(path)
                live.thumbnail_at = utcnow()
    except Exception:
        log.warning("saving the thumbnail of %s failed", room, exc_info=True)
