"""Rights revoked at once, on every node: taking people out of rooms they may no longer be in.

A service that takes a right away emits `access.revoked` after its commit (`live.events`): a
member leaves a community or a group, an admin removes someone from a group, a community turns
members-only or is deleted, a group is archived (and, the same way, anything later such as a
platform suspension). The payload narrows the connections concerned (`community_id`, `user_id`,
`rooms`; None: any) and says what to do with them: `recheck` decides each of their rooms again
exactly as a join would be decided now and takes out those refused; without it every one of them
is taken out. Moderation's bans and kicks arrive as `moderation.action` and are enforced here too.

The node where it happened publishes the event on the control channel (`gateway.control`) and
every node, itself included, acts on its own connections within the bus's latency. Taking a
connection out of a room is immediate and final for the room's traffic: the seat goes before
anything else (the hub delivers nothing more to it), then the room's subscription, presence and
media, and the connection gets `room.closed {room, reason}`. Joining again gets what a join gets
now (`not_found`, `not_member`, `forbidden`, `banned`).

Two ways a revocation could be missed, and what closes them:

- a join decided just before the commit and finishing after the event was handled: every event
  handled bumps the rooms' `generation`; a join that sees it moved while it was being decided
  decides again (`live.signaling.rooms`);
- a node that lost control messages (its bus reconnected): it re-decides every room of every
  connection it holds (`after_gap`), keeping them when the database cannot answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from live.bus import Bus
from live.chat.service import ChatService
from live.errors import ApiError, ErrorCode
from live.room_id import RoomId
from live.rooms import metrics
from live.rooms.access import RoomChecks
from live.rooms.channels import encode_event
from live.rooms.hub import CONTROL_CHANNEL, Hub
from live.signaling.connection import Connection
from live.signaling.parts import MediaRequests
from live.signaling.rooms import RoomSeats
from live.signaling.session import CLOSE_FORBIDDEN
from live.signaling.tasks import Tasks

log = logging.getLogger("live.signaling.revocation")

# Refusals that say "not in this room any more"; anything else (the database is down) is retried.
REFUSALS = frozenset({ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.BANNED,
                      ErrorCode.CONFLICT, ErrorCode.INVALID_REQUEST})
CHECK_ATTEMPTS = 4
REPUBLISH_SECONDS = 30.0


class Revocations:
    """Taking this node's connections out of rooms they may no longer be in."""

    def __init__(self, *, bus: Bus, hub: Hub, rooms: RoomSeats, checks: RoomChecks, connections: set[Connection],
                 chat: ChatService, media: MediaRequests, tasks: Tasks) -> None:
        self.bus = bus
        self.hub = hub
        self.rooms = rooms
        self.checks = checks
        self.connections = connections
        self.chat = chat
        self.media = media
        self.tasks = tasks

    # -- from the domain events to the bus --------------------------------------------------------

    async def on_access_revoked(self, payload: dict[str, Any]) -> None:
        """`access.revoked` on this node: publish it for every node (this one included)."""
        await self._publish({"type": "_revoke", **{k: v for k, v in payload.items() if k != "type"}})

    async def on_moderation(self, payload: dict[str, Any]) -> None:
        """`moderation.action` on this node: every node notifies and enforces it."""
        await self._publish({"type": "_moderation", **{k: v for k, v in payload.items() if k != "type"}})

    async def _publish(self, event: dict[str, Any]) -> None:
        try:
            await self.bus.publish(CONTROL_CHANNEL, encode_event(event))
        except Exception as exc:  # noqa: BLE001 - the bus is down: enforce here now, others later
            log.warning("publishing %s failed (%s): enforcing it on this node, retrying for the others",
                        event["type"], exc)
            self.heard(event)
            self.tasks.spawn(self._republish(event))

    async def _republish(self, event: dict[str, Any]) -> None:
        delay, waited = 0.5, 0.0
        while waited < REPUBLISH_SECONDS:
            await asyncio.sleep(delay)
            waited += delay
            try:
                await self.bus.publish(CONTROL_CHANNEL, encode_event(event))
                return
            except Exception:  # noqa: BLE001 - still down
                delay = min(delay * 2, 5.0)
        log.error("%s never reached the other nodes; their bus gap sweep has to catch it", event["type"])

    def heard(self, event: dict[str, Any]) -> None:
        """A control message from the bus (any node's): act on this node's connections."""
        self.rooms.generation += 1
        if event.get("type") == "_revoke":
            self.tasks.spawn(self.apply(event))
        elif event.get("type") == "_moderation":
            self.tasks.spawn(self.apply_moderation(event))

    # -- acting on this node's connections ------------------------------------------------------------

    async def apply(self, event: dict[str, Any]) -> None:
        """An `access.revoked` (from any node): take this node's connections concerned out of the
        rooms they may no longer be in."""
        community_id = _opt_str(event.get("community_id"))
        user_id = _opt_str(event.get("user_id"))
        rooms_field = event.get("rooms")
        rooms = {r for r in rooms_field if isinstance(r, str)} if isinstance(rooms_field, list) else None
        reason = str(event.get("reason") or "revoked")[:64]
        if community_id is None and user_id is None and rooms is None:
            return  # would mean everyone everywhere: never what a service meant
        if user_id is not None and community_id is not None:
            self._forget_standing(community_id, user_id)
        conns = self._connections(user_id)
        concerned = [(conn, room) for conn in conns for room, seat in list(conn.seats.items())
                     if (community_id is None or seat.access.community_id == community_id)
                     and (rooms is None or room in rooms)]
        if event.get("recheck", True) is False:
            refused = {(room, conn.user_id) for conn, room in concerned}
        else:
            refused = await self.refused({(room, conn.user_id) for conn, room in concerned}, fail_closed=True)
        for conn, room in concerned:
            if (room, conn.user_id) in refused:
                await self.take_out(conn, room, reason)

    async def apply_moderation(self, event: dict[str, Any]) -> None:
        """A moderation action: the notice to the user's every connection; a ban or kick takes
        them out of the community's rooms (a ban then closes those connections with 4003)."""
        community_id = event.get("community_id")
        user_id = event.get("user_id")
        action = event.get("action")
        if not isinstance(community_id, str) or not isinstance(user_id, str):
            return
        self._forget_standing(community_id, user_id)
        notice = {
            "type": "moderation.notice",
            "community_id": community_id,
            "action": action,
            "reason": event.get("reason"),
            "until": event.get("until"),
        }
        for conn in self._connections(user_id):
            conn.send(notice)
            if action not in ("ban", "kick"):
                continue
            rooms = [r for r, seat in conn.seats.items() if seat.access.community_id == community_id]
            reason = "banned" if action == "ban" else "kicked"
            for room in rooms:
                await self.take_out(conn, room, reason)
            if action == "ban" and rooms:
                conn.close(CLOSE_FORBIDDEN, "banned from this community")

    def after_gap(self) -> None:
        """The control channel had a gap: re-decide every room of every connection here."""
        self.rooms.generation += 1
        self.tasks.spawn(self._sweep())

    async def _sweep(self) -> None:
        concerned = [(conn, room) for conn in list(self.connections) for room in list(conn.seats)]
        if not concerned:
            return
        refused = await self.refused({(room, conn.user_id) for conn, room in concerned}, fail_closed=False)
        for conn, room in concerned:
            if (room, conn.user_id) in refused:
                await self.take_out(conn, room, "revoked")

    async def refused(self, pairs: set[tuple[RoomId, str]], *, fail_closed: bool) -> set[tuple[RoomId, str]]:
        """The (room, user) pairs a join would refuse now (read together: batched per community).

        When the database cannot answer after a few tries, `fail_closed` counts the pair as
        refused (a revocation that was asked for) or as allowed (a sweep on suspicion).
        """
        pairs_list = list(pairs)
        verdicts = await asyncio.gather(*(self._refused(room, user, fail_closed) for room, user in pairs_list))
        return {pair for pair, refused in zip(pairs_list, verdicts, strict=True) if refused}

    async def _refused(self, room: RoomId, user_id: str, fail_closed: bool) -> bool:
        for attempt in range(CHECK_ATTEMPTS):
            try:
                await self.checks.check(room, user_id)
                return False
            except ApiError as exc:
                if exc.code in REFUSALS:
                    return True
                error: Exception = exc
            except Exception as exc:  # noqa: BLE001 - the database may be down: try again
                error = exc
            if attempt + 1 < CHECK_ATTEMPTS:
                await asyncio.sleep(0.2 * 2**attempt)
        log.warning("deciding %s for %s failed (%s): %s", room, user_id, error,
                    "taking them out" if fail_closed else "leaving them in")
        return fail_closed

    async def take_out(self, conn: Connection, room: RoomId, reason: str) -> None:
        """Take `conn` out of `room` for good: no more of its traffic, then `room.closed`."""
        seat = conn.seats.get(room)
        if seat is None:
            return
        conn.session.remove_from_room(room)
        await self.rooms.leave(conn, room)
        conn.send({"type": "room.closed", "room": room, "reason": reason})
        metrics.REVOCATIONS.labels(reason).inc()
        if seat.access.kind == "live":
            self.tasks.spawn(self._stop_media(conn, room))

    async def _stop_media(self, conn: Connection, room: str) -> None:
        """Whatever the connection's user sent or watched in the live stops with the room."""
        try:
            await self.media.stop(room, conn.user, None)
        except Exception as exc:  # noqa: BLE001 - no relay, no media there: nothing to stop
            log.debug("stopping %s's media in %s: %s", conn.user_id, room, exc)

    # -- helpers ----------------------------------------------------------------------------------------

    def _connections(self, user_id: str | None) -> list[Connection]:
        if user_id is None:
            return list(self.connections)
        return [c for c in self.hub.users.get(user_id, ()) if isinstance(c, Connection)]

    def _forget_standing(self, community_id: str, user_id: str) -> None:
        """Chat caches roles and sanctions per node: this node's must not outlive the change."""
        try:
            self.chat.invalidate(community_id, user_id)
        except Exception:
            log.exception("chat.invalidate failed")


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
