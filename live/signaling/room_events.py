"""Domain events to rooms, and node-to-node messages to the parts that act on them.

On the node where they happen, domain events become room events on the bus: an announcement
(`community:{cid}`), a live starting or ending (`live.started` / `live.ended` to the community's
room; `room.closed` to the live's). On every node, the hub hands over what is not for clients as
is: reaction partials (summed for the ticker), announcements (each delivered only to members of
the community and its named groups), moderation actions and revocations
(`live.signaling.revocation`), blocks and suspensions (`live.signaling.safety`), sockets to close
(`live.signaling.sockets`); a gap on the control channel makes the last two decide again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from live.frames import Batches
from live.room_id import RoomId
from live.rooms.access import members_among
from live.rooms.hub import CONTROL_CHANNEL, Hub
from live.rooms.reactions import ReactionCounts
from live.signaling.connection import Connection
from live.signaling.revocation import Revocations
from live.signaling.safety import SafetyRealtime
from live.signaling.sockets import UserSockets
from live.signaling.tasks import Tasks
from live.storage.db import Database


class RoomEvents:
    """What the gateway does with domain events and node-to-node messages."""

    def __init__(self, *, db: Database, hub: Hub, revocations: Revocations, safety: SafetyRealtime,
                 sockets: UserSockets, reactions: ReactionCounts, tasks: Tasks) -> None:
        self.db = db
        self.hub = hub
        self.revocations = revocations
        self.safety = safety
        self.sockets = sockets
        self.reactions = reactions  # partials heard from every node, pushed by the ticker
        self.tasks = tasks

    # -- from the hub (every node) ---------------------------------------------------------------

    def internal(self, channel: str, event: dict[str, Any]) -> None:
        """`channel` is the room (a `RoomId`) for a room's channel, else the bus channel's name."""
        kind = event.get("type")
        if kind == "_reactions":
            counts = event.get("counts")
            if isinstance(channel, RoomId) and isinstance(counts, dict):
                self.reactions.merge(channel, counts)
        elif kind == "announcement" and isinstance(channel, RoomId):
            self.tasks.spawn(self._deliver_announcement(channel, event))
        elif kind in ("_moderation", "_revoke") and channel == CONTROL_CHANNEL:
            self.revocations.heard(event)
        elif kind in ("_blocks", "_suspension") and channel == CONTROL_CHANNEL:
            self.safety.heard(event)
        elif kind == "_evict" and channel.startswith("user."):
            self.sockets.evict(channel[5:], event)

    def control_gap(self) -> None:
        """Control messages may have been lost: decide rooms, blocks and suspensions again."""
        self.revocations.after_gap()
        self.safety.after_gap()

    async def _deliver_announcement(self, room: RoomId, event: dict[str, Any]) -> None:
        conns = [c for c in self.hub.rooms.get(room, ()) if isinstance(c, Connection)]
        if not conns:
            return
        group_ids = [g for g in event.get("group_ids") or [] if isinstance(g, str)]
        reach = await members_among(self.db, str(event.get("community_id")), {c.user_id for c in conns}, group_ids)
        batches = Batches([event])
        now = time.time()
        for conn in conns:
            if conn.user_id in reach:
                conn.deliver(room, batches.get(conn.encoding), now)

    # -- from domain events (the node where they happen) -----------------------------------------

    def on_live_event(self, name: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def handler(payload: dict[str, Any]) -> None:
            cid = payload.get("community_id")
            live = payload.get("live") or {}
            await self.hub.publish(RoomId.community(str(cid)), {"type": name, "community_id": cid, "live": live})
            if name == "live.ended" and isinstance(live, dict) and live.get("id"):
                room = RoomId.live(str(live["id"]))
                await self.hub.publish(room, {"type": "room.closed", "room": room, "reason": "ended"})

        return handler

    async def on_announcement(self, payload: dict[str, Any]) -> None:
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
        await self.hub.publish(RoomId.community(str(cid)), event)
