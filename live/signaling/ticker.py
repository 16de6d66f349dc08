"""The gateway's once-a-second ticker: heartbeats, viewer counts, coalesced reactions.

Each tick: connections idle for a heartbeat get `ping`; presence syncs across nodes and rooms
whose viewer count changed get `room.viewers` (a live's count includes its HLS players not in the
room, and its peak is recorded); the reactions this node's viewers sent are published as one
partial per room, and the partials heard from every node go out as one `reactions` per room.
"""

from __future__ import annotations

import asyncio
import logging

from live.errors import ApiError
from live.room_id import RoomId, RoomKind
from live.rooms.hub import Hub
from live.rooms.presence import Presence
from live.rooms.reactions import ReactionCounts
from live.signaling.connection import Connection
from live.signaling.parts import HlsCounts, LiveRooms
from live.storage.outage import OutageLog

log = logging.getLogger("live.signaling.ticker")

TICK_SECONDS = 1.0


class Ticker:
    """Once a second, for this node's connections and rooms."""

    def __init__(self, *, connections: set[Connection], hub: Hub, presence: Presence, lives: LiveRooms,
                 hls: HlsCounts, reactions_local: ReactionCounts, reactions_heard: ReactionCounts) -> None:
        self.connections = connections
        self.hub = hub
        self.presence = presence
        self.lives = lives
        self.hls = hls
        self.reactions_local = reactions_local
        self.reactions_heard = reactions_heard
        self._viewers_sent: dict[RoomId, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog(log, "the gateway tick")

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick_forever(), name="gateway-ticker")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                self._outage.failed(exc)
            else:
                self._outage.worked()

    async def tick(self) -> None:
        now = asyncio.get_running_loop().time()
        for conn in list(self.connections):
            conn.keepalive(now)
        counts = await self.presence.sync()
        for room, count in counts.items():
            kind, ident = room.kind, room.ident
            if kind is RoomKind.LIVE:
                count += self.hls.outside(ident)  # HLS players not in the room themselves
            if kind is RoomKind.COMMUNITY or self._viewers_sent.get(room) == count:
                continue
            self._viewers_sent[room] = count
            self.hub.fanout(room, [{"type": "room.viewers", "room": room, "count": count}])
            if kind is RoomKind.LIVE:
                try:
                    await self.lives.record_viewers(ident, count)
                except Exception as exc:  # noqa: BLE001 - the next tick records the count again
                    log.warning("record_viewers failed: %s", exc)
        for room in [r for r in self._viewers_sent if r not in counts]:
            del self._viewers_sent[room]
        for room, partial in self.reactions_local.drain().items():
            try:
                await self.hub.publish(room, {"type": "_reactions", "room": room, "counts": partial})
            except ApiError:
                self.reactions_heard.merge(room, partial)  # no bus: at least this node's viewers
        for room, merged in self.reactions_heard.drain().items():
            self.hub.fanout(room, [{"type": "reactions", "room": room, "counts": merged}])
