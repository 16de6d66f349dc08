"""A connection's rooms on this node: joining (with what the join reply carries), leaving, and
the presence and host events that go with them.

A join decides access (`live.rooms.access`), takes a seat, subscribes through the hub, reads the
room's state (chat position and history, a live's state; shared by the joins of a storm), and
decides again if a right was revoked meanwhile (`generation`, moved by
`live.signaling.revocation`). The history a join carries is capped at `LIVE_JOIN_HISTORY_BYTES`
(`fitted`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from live.chat.service import ChatService
from live.coalesce import Coalescer
from live.errors import ApiError, ErrorCode
from live.frames import Encoding, encode_one
from live.room_id import RoomId
from live.rooms import metrics
from live.rooms.access import RoomAccess, RoomChecks
from live.rooms.hub import Hub
from live.rooms.presence import Presence
from live.safety.blocks import join_reply_without_blocked
from live.signaling.connection import Connection, Seat
from live.signaling.parts import LiveRooms
from live.signaling.tasks import Tasks

log = logging.getLogger("live.signaling.rooms")

LIMIT_HISTORY = "join_history_bytes"


class RoomSeats:
    """Joining and leaving rooms, for the connections of this node."""

    def __init__(self, *, hub: Hub, presence: Presence, checks: RoomChecks, chat: ChatService, lives: LiveRooms,
                 tasks: Tasks, history_bytes: int) -> None:
        self.hub = hub
        self.presence = presence
        self.checks = checks
        self.chat = chat
        self.lives = lives
        self.tasks = tasks
        self.history_bytes = history_bytes
        self.shared = Coalescer()  # reads shared by the joins of a room arriving together
        # Moves whenever this node handles a revocation or a ban/kick: a join in flight compares.
        self.generation = 0

    async def join(self, conn: Connection, room: RoomId, since: dict[str, Any] | None) -> dict[str, Any]:
        """Seat `conn` in `room`; the join reply's data (ApiError when refused)."""
        generation = self.generation
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
                    await self.leave(conn, room)
                else:
                    seat.pending, seat.ready = None, True
                    seat.epoch, seat.last_seq = previous.epoch, previous.last_seq
            raise
        if self.generation != generation or conn.seats.get(room) is not seat:
            # A right was revoked while this join was being decided, perhaps on a read from
            # before its commit: decide again, now that the seat is where revocations look.
            try:
                await self.checks.check(room, conn.user_id)
            except BaseException:
                if conn.seats.get(room) is seat:
                    await self.leave(conn, room)
                raise
            if conn.seats.get(room) is not seat:  # taken out (kicked, banned) meanwhile
                raise ApiError(ErrorCode.FORBIDDEN, "you were removed from this room")
        seat.epoch, seat.last_seq, seat.ready = data.get("epoch"), int(data.get("seq") or 0), True
        self.hub.note_position(room, seat.epoch, seat.last_seq)
        return join_reply_without_blocked(data, conn.blocked)

    async def _room_state(self, room: RoomId, access: RoomAccess, since: dict[str, Any] | None) -> dict[str, Any]:
        data: dict[str, Any] = {"room": room, "epoch": None, "seq": 0, "history": []}
        if access.has_chat:
            if since is None:  # the same for every fresh joiner: shared in a join storm
                state = await self.shared.run(("chat", room), lambda: self.fitted(self.chat.join_state(room, None)))
            else:
                state = await self.fitted(self.chat.join_state(room, since))
            data.update({k: v for k, v in state.items() if k in ("epoch", "seq", "history", "recovered")})
        if since is not None:
            data.setdefault("recovered", False)
        if access.kind == "live":
            data["state"] = dict(await self.shared.run(("state", access.ident), lambda: self.lives.state(access.ident)))
        return data

    async def fitted(self, reading: Awaitable[dict[str, Any]]) -> dict[str, Any]:
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
            budget -= len(encode_one(message, Encoding.MSGPACK))
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
                self._host_event(self.lives.host_connected, access.ident, conn.user_id)

    @staticmethod
    def _host_event(report: Callable[[str, str], None], lid: str, user_id: str) -> None:
        try:
            report(lid, user_id)
        except Exception:
            log.exception("reporting the host of %s failed", lid)

    async def leave(self, conn: Connection, room: RoomId) -> bool:
        """Take `conn` out of `room` on this node (its seat first: nothing more is delivered)."""
        seat = conn.seats.pop(room, None)
        if seat is None:
            return False
        await self.hub.leave(room, conn)
        if not seat.present:
            return True
        left = self.presence.remove(room, conn.user_id)
        if seat.access.kind == "live" and left == 0 and conn.user_id == seat.access.host_id:
            self._host_event(self.lives.host_disconnected, seat.access.ident, conn.user_id)
        return True

    async def access(self, conn: Connection, room: RoomId) -> RoomAccess:
        """The access decided at join, or decided now for a room the connection is not in."""
        seat = conn.seats.get(room)
        if seat is not None and seat.ready:
            return seat.access
        return await self.checks.check(room, conn.user_id)
