"""Filling what a node missed: after a bus gap, or when a room's chat skips a `seq`.

For every chat room it serves, the node asks the chat store for everything after the last `seq`
its connections saw (grouped by that position) and delivers it in order; connections drop what
they already have by `seq`. All or nothing, as for a client's own `since`: when the store cannot
say (another epoch, too far behind) or the room keeps no history (`community:`), the connections
get `room.resync` with `recovered: false` and reload. One recovery per room at a time (asked
again meanwhile, it runs once more), and a second pass a few seconds after a bus gap catches
messages whose publish failed on another node after this node had already reconnected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from live.chat.service import ChatService
from live.frames import Batches
from live.room_id import RoomId
from live.rooms import metrics
from live.rooms.hub import Hub
from live.signaling.connection import Connection
from live.signaling.tasks import Tasks

log = logging.getLogger("live.signaling.recovery")

RECOVERY_ATTEMPTS = 5
LATE_RECOVERY_SECONDS = 3.0


class RoomRecovery:
    """Recovering this node's chat rooms from the store."""

    def __init__(self, hub: Hub, chat: ChatService, tasks: Tasks) -> None:
        self.hub = hub
        self.chat = chat
        self.tasks = tasks
        self._recovering: dict[str, bool] = {}  # room -> asked again while recovering

    def recover(self, room: RoomId) -> None:
        """Recover `room` from the store: one recovery at a time per room, and once more if
        asked again meanwhile. After a bus outage a second pass a little later catches messages
        whose publish failed on another node after this node had already reconnected."""
        if room in self._recovering:
            self._recovering[room] = True
            return
        self._recovering[room] = False
        self.tasks.spawn(self._recover_until_done(room))

    async def _recover_until_done(self, room: RoomId) -> None:
        try:
            while True:
                await self._recover(room)
                if not self._recovering.get(room):
                    break
                self._recovering[room] = False
        finally:
            self._recovering.pop(room, None)

    def after_bus_gap(self, room: RoomId) -> None:
        self.recover(room)
        loop = asyncio.get_running_loop()
        loop.call_later(LATE_RECOVERY_SECONDS, self.recover, room)

    async def _recover(self, room: RoomId) -> None:
        conns = [c for c in self.hub.rooms.get(room, ()) if isinstance(c, Connection)]
        groups: dict[tuple[Any, int], list[Connection]] = {}
        for conn in conns:
            seat = conn.seats.get(room)
            if seat is None or seat.pending is not None:
                continue  # mid-join: the join's own state covers it
            groups.setdefault((seat.epoch, seat.last_seq), []).append(conn)
        has_chat = room.has_chat
        for (epoch, last_seq), members in groups.items():
            state: dict[str, Any] | None = None
            if has_chat and epoch is not None:
                for attempt in range(RECOVERY_ATTEMPTS):
                    try:
                        state = await self.chat.join_state(room, {"epoch": epoch, "seq": last_seq})
                        break
                    except Exception as exc:  # noqa: BLE001 - the database may be down too
                        log.warning("recovering %s failed (%s); retrying", room, exc)
                        await asyncio.sleep(0.2 * 2**attempt)
            if state is not None and state.get("recovered"):
                metrics.RECOVERIES.labels("true").inc()
                self.hub.note_position(room, state.get("epoch"), int(state.get("seq") or 0))
                now = time.time()
                for message in state.get("history") or []:
                    seq = message.get("seq")
                    author = (message.get("user") or {}).get("id")
                    batches = Batches([message], [seq if isinstance(seq, int) else None])
                    for conn in members:
                        if conn.blocked and author in conn.blocked:
                            continue  # its user blocked the author (live.safety)
                        conn.deliver(room, batches.get(conn.encoding), now)
                continue
            metrics.RECOVERIES.labels("false").inc()
            notice: dict[str, Any] = {"type": "room.resync", "room": room, "recovered": False}
            if state is not None:
                notice.update(epoch=state.get("epoch"), seq=state.get("seq"))
                if room in self.hub.rooms and state.get("epoch") is not None:
                    # Start counting from here: the clients reload, the node need not recover again.
                    self.hub.chat_position[room] = (state.get("epoch"), int(state.get("seq") or 0))
            for conn in members:
                conn.send(notice)
