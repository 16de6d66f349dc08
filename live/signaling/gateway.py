"""The gateway service (`services.components["gateway"]`): what each client request does, and
how domain events reach connections on every node.

Requests are routed by type to the owning service (chat, lives, media) after the room-access
checks of `live.rooms.access`. Domain events raised on one node (announcements, lives starting and
ending, moderation actions, rights revoked) are published on the bus and acted upon by every node
for its own connections (`live.signaling.revocation` for the last two). Once a second a ticker
syncs presence (`room.viewers`, `record_viewers`) and coalesces reactions (`reactions`), and idle
connections get their heartbeat `ping`.

Limits per user and per connection (docs/security.md): `LIVE_MAX_SOCKETS_PER_USER` here at
connect (`live.signaling.sockets`: the oldest socket gives way, 4029), rooms, join rate and
requests in flight in the session core, and the chat history a join carries
(`LIVE_JOIN_HISTORY_BYTES`) in `_fitted`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from live.coalesce import Coalescer
from live.errors import ApiError, ErrorCode
from live.events import ACCESS_REVOKED
from live.rooms import metrics
from live.rooms.access import RoomAccess, RoomChecks, members_among, split_room
from live.rooms.channels import encode_event, room_channel, user_channel
from live.rooms.hub import CONTROL_CHANNEL, Hub
from live.rooms.presence import Presence
from live.rooms.reactions import ReactionCounts
from live.safety.realtime import SafetyRealtime
from live.signaling import codec
from live.signaling.connection import Connection, Flusher, Seat
from live.signaling.recovery import RoomRecovery
from live.signaling.revocation import Revocations
from live.signaling.session import Effect, Limits, Request
from live.signaling.sockets import SocketLimit, UserSockets
from live.storage.ids import new_id

log = logging.getLogger("live.signaling.gateway")

TICK_SECONDS = 1.0
LIMIT_HISTORY = "join_history_bytes"

Handler = Callable[[Connection, Request], Awaitable[dict[str, Any] | None]]


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Gateway:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.settings = services.settings
        self.node_id = new_id()
        self.recovery = RoomRecovery(self)
        self.revocations = Revocations(self)
        self.safety = SafetyRealtime(self)
        self.hub = Hub(services.bus, on_internal=self._internal, on_gap=self.recovery.after_bus_gap,
                       on_hole=self.recovery.recover, on_control_gap=self._control_gap)
        redis = getattr(services.bus, "client", None)
        prefix = getattr(services.bus, "prefix", "")
        self.presence = Presence(self.node_id, redis, prefix)
        s = self.settings
        self.limits = Limits(max_rooms=s.max_rooms_per_connection, join_rate=s.join_rate,
                             join_burst=float(s.join_burst), max_in_flight=s.max_requests_in_flight)
        self.sockets = UserSockets(SocketLimit(s.max_sockets_per_user, redis, prefix), services.bus)
        # A join reply's history must fit the outgoing cap with room to spare, whatever the setting.
        self.history_bytes = min(s.join_history_bytes, s.send_queue_bytes // 2)
        self.connections: set[Connection] = set()
        self.flusher = Flusher(self.settings.write_interval_ms / 1000)
        self.shared = Coalescer()  # reads shared by the joins of a room arriving together
        self.checks = RoomChecks(services)
        self.reactions_local = ReactionCounts()
        self.reactions_heard = ReactionCounts()
        self._viewers_sent: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._handlers: dict[str, Handler] = {
            "room.join": self._join,
            "room.leave": self._leave_request,
            "chat.send": self._chat_send,
            "chat.delete": self._chat_delete,
            "reaction.send": self._reaction,
            "stage.request": self._stage,
            "stage.invite": self._stage,
            "stage.accept": self._stage,
            "stage.remove": self._stage,
            "media.publish": self._media,
            "media.subscribe": self._media,
            "media.stop": self._media,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.hub.start()
        events = self.services.events
        events.on("announcement", self._on_announcement)
        events.on("live.started", self._on_live_event("live.started"))
        events.on("live.ended", self._on_live_event("live.ended"))
        events.on("moderation.action", self.revocations.on_moderation)
        events.on(ACCESS_REVOKED, self.revocations.on_access_revoked)
        events.on("block.changed", self.safety.on_block_changed)
        events.on("platform.action", self.safety.on_platform_action)
        self._ticker = asyncio.create_task(self._tick_forever(), name="gateway-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for conn in list(self.connections):
            conn.close(1001, "server shutting down")
        for task in list(self._tasks):
            task.cancel()
        await self.hub.stop()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def component(self, name: str, what: str) -> Any:
        found = self.services.components.get(name)
        if found is None:
            raise ApiError(ErrorCode.UNAVAILABLE, f"{what} is not available on this server")
        return found

    # -- the interface other parts call ---------------------------------------------------------

    async def publish_room(self, room: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Send an event to everyone in `room` on every node (encoded once, one publish)."""
        await self.services.bus.publish(room_channel(room), encode_event(event))

    async def send_user(self, user_id: str, event: dict[str, Any]) -> None:
        """Send an event to every connection of `user_id` on every node."""
        await self.services.bus.publish(user_channel(user_id), encode_event(event))

    # -- connections ---------------------------------------------------------------------------

    async def connect(self, conn: Connection) -> None:
        await self.safety.admit(conn)  # first: nothing to undo if the database cannot answer
        await self.hub.add_user(conn)
        self.connections.add(conn)
        metrics.CONNECTIONS.set(len(self.connections))
        await self.sockets.admit(conn)

    async def disconnect(self, conn: Connection) -> None:
        self.connections.discard(conn)
        metrics.CONNECTIONS.set(len(self.connections))
        for room in list(conn.seats):
            await self.leave_room(conn, room)
        await self.hub.remove_user(conn)
        await self.sockets.release(conn)

    async def handle(self, conn: Connection, request: Request) -> list[Effect]:
        """Perform one client request; the session turns the outcome into the reply."""
        handler = self._handlers.get(request.type)
        try:
            if handler is None:
                raise ApiError(ErrorCode.INVALID_REQUEST, f"unknown message type {request.type!r}")
            self.safety.check_request(conn, request.type)
            data = await handler(conn, request)
        except ApiError as exc:
            return conn.session.fail(request, exc)
        except Exception:
            log.exception("%s from %s failed", request.type, conn.user_id)
            effects = conn.session.fail(
                request, ApiError(ErrorCode.INTERNAL, "the server failed on this request")
            )
            return effects + conn.session.close(1011, "server error")
        return conn.session.complete(request, data)

    # -- rooms ---------------------------------------------------------------------------------

    async def _join(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        since = request.message.get("since")
        generation = self.revocations.generation
        access = await self.checks.check(room, conn.user_id)
        previous = conn.seats.get(room)
        seat = Seat(access)
        conn.seats[room] = seat
        if previous is None:
            try:
                await self.hub.join(room, conn)
            except BaseException:
                if conn.seats.get(room) is seat:
                    conn.seats.pop(room, None)
                raise
            if conn.seats.get(room) is seat:  # (not taken out while subscribing)
                self._present(conn, access)
                seat.present = True
        else:
            seat.present = previous.present
        try:
            data = await self._room_state(room, access, since)
        except BaseException:
            if conn.seats.get(room) is seat:
                if previous is None:
                    await self.leave_room(conn, room)
                else:
                    seat.pending, seat.ready = None, True
                    seat.epoch, seat.last_seq = previous.epoch, previous.last_seq
            raise
        if self.revocations.generation != generation or conn.seats.get(room) is not seat:
            # A right was revoked while this join was being decided, perhaps on a read from
            # before its commit: decide again, now that the seat is where revocations look.
            try:
                await self.checks.check(room, conn.user_id)
            except BaseException:
                if conn.seats.get(room) is seat:
                    await self.leave_room(conn, room)
                raise
            if conn.seats.get(room) is not seat:  # taken out (kicked, banned) meanwhile
                raise ApiError(ErrorCode.FORBIDDEN, "you were removed from this room")
        seat.epoch, seat.last_seq, seat.ready = data.get("epoch"), int(data.get("seq") or 0), True
        self.hub.note_position(room, seat.epoch, seat.last_seq)
        return self.safety.history_for(conn, data)

    async def _room_state(
        self, room: str, access: RoomAccess, since: dict[str, Any] | None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"room": room, "epoch": None, "seq": 0, "history": []}
        if access.has_chat:
            chat = self.services.components.get("chat")
            if chat is not None:
                if since is None:  # the same for every fresh joiner: shared in a join storm
                    state = await self.shared.run(("chat", room),
                                                  lambda: self._fitted(chat.join_state(room, None)))
                else:
                    state = await self._fitted(chat.join_state(room, since))
                data.update({k: v for k, v in state.items() if k in ("epoch", "seq", "history", "recovered")})
        if since is not None:
            data.setdefault("recovered", False)
        if access.kind == "live":
            lives = self.component("lives", "live sessions")
            data["state"] = dict(await self.shared.run(("state", access.ident), lambda: lives.state(access.ident)))
        return data

    async def _fitted(self, reading: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """The chat's join state with the newest history that fits `LIVE_JOIN_HISTORY_BYTES`
        (measured as MessagePack; JSON runs a little larger).

        A join is a small request with a large answer: without a cap, a client looping joins with
        an old `since` pulls the whole recoverable history each time. A recovery that does not
        fit is no recovery (all or nothing): `recovered` becomes false, as for one too far behind.
        """
        state = await reading
        history = state.get("history") or []
        budget, kept = self.history_bytes, 0
        for message in reversed(history):
            budget -= len(codec.encode_one(message, codec.Encoding.MSGPACK))
            if budget < 0:
                break
            kept += 1
        if kept == len(history):
            return state
        metrics.LIMITED.labels(LIMIT_HISTORY).inc()
        fitted = {**state, "history": history[len(history) - kept:]}
        if fitted.get("recovered"):
            fitted["recovered"] = False
        return fitted

    def _present(self, conn: Connection, access: RoomAccess) -> None:
        count = self.presence.add(access.room, conn.user_id)
        if access.kind == "live":
            self.presence.exclude(access.room, access.host_id)
            if count == 1 and conn.user_id == access.host_id:
                self.spawn(self._host_event("host_connected", access.ident, conn.user_id))

    async def _host_event(self, name: str, lid: str, user_id: str) -> None:
        lives = self.services.components.get("lives")
        if lives is not None and hasattr(lives, name):
            try:
                await _maybe_await(getattr(lives, name)(lid, user_id))
            except Exception:
                log.exception("lives.%s failed", name)

    async def leave_room(self, conn: Connection, room: str) -> bool:
        """Take `conn` out of `room` on this node (its seat first: nothing more is delivered)."""
        seat = conn.seats.pop(room, None)
        if seat is None:
            return False
        await self.hub.leave(room, conn)
        if not seat.present:
            return True
        left = self.presence.remove(room, conn.user_id)
        if seat.access.kind == "live" and left == 0 and conn.user_id == seat.access.host_id:
            self.spawn(self._host_event("host_disconnected", seat.access.ident, conn.user_id))
        return True

    async def _leave_request(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        await self.leave_room(conn, room)
        return {"room": room}

    async def _access(self, conn: Connection, room: str) -> RoomAccess:
        """The access decided at join, or decided now for a room the connection is not in."""
        seat = conn.seats.get(room)
        if seat is not None and seat.ready:
            return seat.access
        return await self.checks.check(room, conn.user_id)

    # -- chat, reactions, stage, media ---------------------------------------------------------

    @staticmethod
    def _chat_room(room: str) -> None:
        # Who may chat (membership, bans, mutes, slow mode...) is the chat service's to decide,
        # on every message with its own fresh-enough caches; here only: does the room have chat.
        if split_room(room)[0] not in ("live", "group"):
            raise ApiError(ErrorCode.INVALID_REQUEST, "community rooms have no chat",
                           fields={"room": "has no chat"})

    async def _chat_send(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        self._chat_room(room)
        chat = self.component("chat", "chat")
        nonce = request.message.get("nonce") or new_id()
        event = await chat.append(room, conn.user, request.message["text"], nonce)
        return {"room": room, "seq": event["seq"], "id": event["id"], "epoch": event.get("epoch")}

    async def _chat_delete(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        self._chat_room(room)
        chat = self.component("chat", "chat")
        await chat.delete(room, request.message["seq"], conn.user, request.message.get("reason") or "")
        return {"room": room}

    async def _reaction(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        access = await self._access(conn, room)
        # The same rule as chat: members only, not banned or muted (watching is not reacting).
        chat = self.component("chat", "chat")
        standing = await chat.standing(access.community_id, conn.user_id)
        if standing.silenced is not None and standing.silenced.code is ErrorCode.BANNED:
            raise standing.silenced
        if standing.role is None:
            raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community can react")
        if standing.silenced is not None:
            raise standing.silenced
        self.reactions_local.add(room, request.message["kind"])
        return {}

    async def _stage(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        kind, lid = split_room(room)
        if kind != "live":
            raise ApiError(ErrorCode.INVALID_REQUEST, "only live rooms have a stage",
                           fields={"room": "not a live room"})
        await self._access(conn, room)
        lives = self.component("lives", "live sessions")
        action = request.type.split(".", 1)[1]
        stage = await lives.stage_action(lid, conn.user, action, request.message.get("user_id"))
        return {"room": room, "stage": stage}

    async def _media(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        media = self.component("media", "media")
        await self._access(conn, room)
        msg = request.message
        if request.type == "media.publish":
            placed = await media.publish(room, conn.user, msg["sdp"])
            return {"sdp": placed.sdp, "worker": placed.worker}
        if request.type == "media.subscribe":
            placed = await media.subscribe(room, conn.user, msg["sdp"], msg.get("publisher"))
            return {"sdp": placed.sdp, "worker": placed.worker}
        await media.stop(room, conn.user, msg.get("publisher"))
        return {}

    # -- node-to-node ---------------------------------------------------------------------------

    def _internal(self, channel: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "_reactions":
            counts = event.get("counts")
            if isinstance(counts, dict):
                self.reactions_heard.merge(channel, counts)
        elif kind == "announcement":
            self.spawn(self._deliver_announcement(channel, event))
        elif kind in ("_moderation", "_revoke") and channel == CONTROL_CHANNEL:
            self.revocations.heard(event)
        elif kind in ("_blocks", "_suspension") and channel == CONTROL_CHANNEL:
            self.safety.heard(event)
        elif kind == "_evict" and channel.startswith("user."):
            self.sockets.evict(channel[5:], event)

    def _control_gap(self) -> None:
        """Control messages may have been lost: decide rooms, blocks and suspensions again."""
        self.revocations.after_gap()
        self.safety.after_gap()

    async def _deliver_announcement(self, room: str, event: dict[str, Any]) -> None:
        conns = [c for c in self.hub.rooms.get(room, ()) if isinstance(c, Connection)]
        if not conns:
            return
        group_ids = [g for g in event.get("group_ids") or [] if isinstance(g, str)]
        reach = await members_among(self.services, str(event.get("community_id")),
                                    {c.user_id for c in conns}, group_ids)
        parts: dict[codec.Encoding, bytes] = {}
        now = time.time()
        for conn in conns:
            if conn.user_id in reach:
                part = parts.get(conn.encoding) or codec.encode_one(event, conn.encoding)
                parts[conn.encoding] = part
                conn.deliver(room, None, part, now)

    def _on_live_event(self, name: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def handler(payload: dict[str, Any]) -> None:
            cid = payload.get("community_id")
            live = payload.get("live") or {}
            await self.publish_room(f"community:{cid}", {"type": name, "community_id": cid, "live": live})
            if name == "live.ended" and isinstance(live, dict) and live.get("id"):
                room = f"live:{live['id']}"
                await self.publish_room(room, {"type": "room.closed", "room": room, "reason": "ended"})

        return handler

    async def _on_announcement(self, payload: dict[str, Any]) -> None:
        cid = payload.get("community_id")
        event = {
            "type": "announcement",
            "community_id": cid,
            "id": payload.get("id"),
            "text": payload.get("text"),
            "group_ids": list(payload.get("group_ids") or []),
        }
        if payload.get("created_at") is not None:
            event["created_at"] = payload["created_at"]
        await self.publish_room(f"community:{cid}", event)

    # -- the once-a-second ticker ----------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("gateway tick failed")

    async def tick(self) -> None:
        now = asyncio.get_running_loop().time()
        for conn in list(self.connections):
            conn.keepalive(now)
        counts = await self.presence.sync()
        lives = self.services.components.get("lives")
        hls = self.services.components.get("hls")
        for room, count in counts.items():
            if hls is not None and room.startswith("live:"):
                count += hls.outside(room[5:])  # HLS players not in the room themselves
            if room.startswith("community:") or self._viewers_sent.get(room) == count:
                continue
            self._viewers_sent[room] = count
            self.hub.fanout(room, [{"type": "room.viewers", "room": room, "count": count}])
            kind, ident = split_room(room)
            if kind == "live" and lives is not None and hasattr(lives, "record_viewers"):
                try:
                    await _maybe_await(lives.record_viewers(ident, count))
                except Exception as exc:
                    log.warning("record_viewers failed: %s", exc)
        for room in [r for r in self._viewers_sent if r not in counts]:
            del self._viewers_sent[room]
        for room, partial in self.reactions_local.drain().items():
            try:
                await self.publish_room(room, {"type": "_reactions", "room": room, "counts": partial})
            except ApiError:
                self.reactions_heard.merge(room, partial)  # no bus: at least this node's viewers
        for room, merged in self.reactions_heard.drain().items():
            self.hub.fanout(room, [{"type": "reactions", "room": room, "counts": merged}])
