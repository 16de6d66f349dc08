"""The gateway: this node's WebSocket connections and everything that acts on them, put together.

Its parts, each a module of its own:

- `live.signaling.requests`: what each client request does, routed by type to the owning
  service (chat, lives, media) after the room checks;
- `live.signaling.rooms`: joining and leaving rooms (presence, the host's comings and goings,
  the state and history a join carries);
- `live.signaling.room_events`: domain events published to rooms, and node-to-node messages
  handed to the parts that act on them;
- `live.signaling.revocation` and `live.signaling.safety`: rights revoked, bans and kicks,
  blocks and suspensions, enforced on every node's connections;
- `live.signaling.recovery`: filling what the node missed (a bus gap, a skipped `seq`);
- `live.signaling.ticker`: heartbeats, viewer counts and coalesced reactions, once a second;
- `live.signaling.sockets`: `LIVE_MAX_SOCKETS_PER_USER` at connect (the oldest gives way, 4029).

The gateway is given the node's hub, presence and the services it routes to (those above it as
the Protocols of `live.signaling.parts`), builds its parts, and admits and lets go of
connections. Limits per connection (rooms, join rate, requests in flight) live in the session
core; the chat history a join carries in `rooms` (docs/security.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from live.chat.service import ChatService
from live.events import ACCESS_REVOKED
from live.room_id import RoomId, RoomKind
from live.rooms import metrics
from live.rooms.access import RoomChecks
from live.rooms.hub import Hub
from live.rooms.presence import Presence
from live.rooms.reactions import ReactionCounts
from live.services import Services
from live.signaling.connection import Connection
from live.signaling.flusher import Flusher
from live.signaling.parts import HlsCounts, LiveRooms, MediaRequests
from live.signaling.recovery import RoomRecovery
from live.signaling.requests import Requests
from live.signaling.revocation import Revocations
from live.signaling.room_events import RoomEvents
from live.signaling.rooms import RoomSeats
from live.signaling.safety import SafetyRealtime
from live.signaling.session import Limits
from live.signaling.sockets import SocketLimit, UserSockets
from live.signaling.tasks import Tasks
from live.signaling.ticker import Ticker

log = logging.getLogger("live.signaling.gateway")

# Flushes that may go back to back before the write interval paces them (live.signaling.flusher):
# a room slower than one message an interval has nothing to merge, and gets its messages at once.
WRITE_BURST = 4.0


class Gateway:
    """This node's WebSocket side: its connections, and the parts that serve them."""

    def __init__(self, services: Services, *, hub: Hub, presence: Presence, chat: ChatService, lives: LiveRooms,
                 media: MediaRequests, hls: HlsCounts) -> None:
        s = services.settings
        self.services = services
        self.settings = s
        self.hub = hub
        self.presence = presence
        self.limits = Limits(max_rooms=s.max_rooms_per_connection, join_rate=s.join_rate,
                             join_burst=float(s.join_burst), max_in_flight=s.max_requests_in_flight)
        # A join reply's history must fit the outgoing cap with room to spare, whatever the setting.
        self.history_bytes = min(s.join_history_bytes, s.send_queue_bytes // 2)
        self.connections: set[Connection] = set()
        self.flusher = Flusher(s.write_interval_ms / 1000, burst=WRITE_BURST)
        self.tasks = Tasks()
        self.checks = RoomChecks(services.db, lives)
        self.sockets = UserSockets(SocketLimit(s.max_sockets_per_user, services.bus.redis), services.bus)
        reactions_local, reactions_heard = ReactionCounts(), ReactionCounts()
        self.rooms = RoomSeats(hub=hub, presence=presence, checks=self.checks, chat=chat, lives=lives,
                               tasks=self.tasks, history_bytes=self.history_bytes)
        self.recovery = RoomRecovery(hub, chat, self.tasks)
        self.revocations = Revocations(bus=services.bus, hub=hub, rooms=self.rooms, checks=self.checks,
                                       connections=self.connections, chat=chat, media=media, tasks=self.tasks)
        self.safety = SafetyRealtime(db=services.db, bus=services.bus, hub=hub, revocations=self.revocations,
                                     tasks=self.tasks)
        self.requests = Requests(rooms=self.rooms, chat=chat, lives=lives, media=media, safety=self.safety,
                                 reactions=reactions_local)
        self.events = RoomEvents(db=services.db, hub=hub, revocations=self.revocations, safety=self.safety,
                                 sockets=self.sockets, reactions=reactions_heard, tasks=self.tasks)
        self.ticker = Ticker(connections=self.connections, hub=hub, presence=presence, lives=lives, hls=hls,
                             reactions_local=reactions_local, reactions_heard=reactions_heard)
        hub.listen(on_internal=self.events.internal, on_gap=self.recovery.after_bus_gap,
                   on_hole=self.recovery.recover, on_control_gap=self.events.control_gap)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.hub.start()
        events = self.services.events
        events.on("announcement", self.events.on_announcement)
        events.on("live.started", self.events.on_live_event("live.started"))
        events.on("live.ended", self.events.on_live_event("live.ended"))
        events.on("moderation.action", self.revocations.on_moderation)
        events.on(ACCESS_REVOKED, self.revocations.on_access_revoked)
        events.on("block.changed", self.safety.on_block_changed)
        events.on("platform.action", self.safety.on_platform_action)
        self.ticker.start()

    async def stop(self) -> None:
        self.ticker.stop()
        for conn in list(self.connections):
            conn.close(1001, "server shutting down")
        self.tasks.cancel_all()
        await self.hub.stop()

    # -- the interface other parts call ---------------------------------------------------------

    async def publish_room(self, room: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Send an event to everyone in `room` on every node (encoded once, one publish)."""
        await self.hub.publish(RoomId.parse(room), event)

    async def send_user(self, user_id: str, event: dict[str, Any]) -> None:
        """Send an event to every connection of `user_id` on every node."""
        await self.hub.publish_user(user_id, event)

    def attendees(self) -> Iterator[tuple[str, str, bool]]:
        """(user id, community id, hosting) for each connection seated in a live room here."""
        for room, members in list(self.hub.rooms.items()):
            if room.kind is not RoomKind.LIVE:
                continue
            for member in list(members):
                seat = member.seats.get(room) if isinstance(member, Connection) else None
                if seat is not None:
                    yield member.user_id, seat.access.community_id, member.user_id == seat.access.host_id

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
            await self.rooms.leave(conn, room)
        await self.hub.remove_user(conn)
        await self.sockets.release(conn)
