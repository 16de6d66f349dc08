"""Blocks and suspensions on the WebSocket gateway, on every node at once.

Each connection carries two facts about its user, read when it connects (batched in a connect
storm) and kept current by control messages every node hears:

- `blocked`: the ids whose chat this user does not want. The hub leaves those messages out of
  this connection's fan-out (`live.rooms.hub`: only rooms where such a connection sits pay for a
  check; the common path is one dict lookup per fan-out), and join history, recovery and HTTP
  chat pages leave them out too (`live.safety.blocks.without_blocked`).
- `suspended_until`: while set, every request that writes (`WRITE_TYPES`) is refused with
  `suspended`. When an operator suspends the account, each of its connections gets
  `moderation.notice` with `scope: "platform"` and is closed with 4003 (the rooms themselves are
  left through `access.revoked`, emitted by the suspension service).

A block or suspension made on one node is published on the control channel (`_blocks`,
`_suspension`); every node re-reads the blocker's blocks from the database (so a message lost or
reordered cannot leave a stale set) or applies the suspension to its own connections. A node
whose control channel had a gap re-reads both for every user it holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from typing import Any

from sqlalchemy import select

from live.bus import Bus
from live.coalesce import Batcher
from live.rooms.channels import encode_event
from live.rooms.hub import CONTROL_CHANNEL, Hub
from live.safety.blocks import NO_BLOCKS
from live.safety.models import Block
from live.safety.suspensions import in_force_among, suspended_error
from live.signaling.connection import Connection
from live.signaling.revocation import Revocations
from live.signaling.session import CLOSE_FORBIDDEN
from live.signaling.tasks import Tasks
from live.storage.db import Database

log = logging.getLogger("live.signaling.safety")

# WebSocket requests that write (refused while suspended); joining, leaving, watching and ping do not.
WRITE_TYPES = frozenset({
    "chat.send", "chat.delete", "reaction.send", "stage.request", "stage.invite", "stage.accept",
    "stage.remove", "media.publish",
})


def until_seconds(until: dt.datetime | None) -> float:
    """A suspension's end as epoch seconds (inf: until lifted)."""
    return math.inf if until is None else until.timestamp()

class SafetyRealtime:
    """The gateway's part of blocking and suspension."""

    def __init__(self, *, db: Database, bus: Bus, hub: Hub, revocations: Revocations, tasks: Tasks) -> None:
        self.db = db
        self.bus = bus
        self.hub = hub
        self.revocations = revocations
        self.tasks = tasks
        self._standing = Batcher(self._read)
        # Moves when a change about the user is heard: a read in flight may predate it.
        self._versions: dict[str, int] = {}

    # -- connecting -------------------------------------------------------------------------

    async def admit(self, conn: Connection) -> None:
        """Read the connection's blocks and suspension (raises when the database cannot answer)."""
        while True:
            version = self._versions.get(conn.user_id, 0)
            blocked, until = await self._standing.load(conn.user_id) or (NO_BLOCKS, None)
            if self._versions.get(conn.user_id, 0) == version:
                break
        self._set_blocked(conn, blocked)
        conn.suspended_until = until

    async def _read(self, user_ids: list[str]) -> dict[str, tuple[frozenset[str], float | None]]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(Block.blocker_id, Block.blocked_id).where(Block.blocker_id.in_(user_ids))
            )
            blocks: dict[str, set[str]] = {}
            for blocker, blocked in rows:
                blocks.setdefault(blocker, set()).add(blocked)
            suspended = await in_force_among(session, user_ids)
        return {
            u: (frozenset(blocks.get(u, ())), until_seconds(suspended[u]) if u in suspended else None)
            for u in user_ids
        }

    # -- requests ---------------------------------------------------------------------------

    def check_request(self, conn: Connection, request_type: str) -> None:
        """Refuse a writing request of a suspended account (`suspended`, with `until`)."""
        until = conn.suspended_until
        if until is None or request_type not in WRITE_TYPES:
            return
        if until <= time.time():
            conn.suspended_until = None  # it ended by itself
            return
        raise suspended_error(None if until == math.inf else dt.datetime.fromtimestamp(until, dt.UTC))

    # -- from domain events to the bus -----------------------------------------------------

    async def on_block_changed(self, payload: dict[str, Any]) -> None:
        """`block.changed` on this node: every node re-reads the blocker's blocks."""
        await self._publish({"type": "_blocks", "user_id": payload.get("blocker_id")})

    async def on_platform_action(self, payload: dict[str, Any]) -> None:
        """`platform.action` (a suspension or its lifting) on this node: every node applies it."""
        await self._publish({"type": "_suspension", **payload})

    async def _publish(self, event: dict[str, Any]) -> None:
        try:
            await self.bus.publish(CONTROL_CHANNEL, encode_event(event))
        except Exception as exc:  # noqa: BLE001 - whatever the bus raised
            # The bus is down: at least this node's connections change now; the other nodes
            # sweep everything they hold when their control channel comes back (after_gap).
            log.warning("publishing %s failed (%s): applying it on this node only", event["type"], exc)
            self.heard(event)

    # -- on every node ----------------------------------------------------------------------

    def heard(self, event: dict[str, Any]) -> None:
        user_id = event.get("user_id")
        if not isinstance(user_id, str):
            return
        self._versions[user_id] = self._versions.get(user_id, 0) + 1
        if event.get("type") == "_blocks":
            self.tasks.spawn(self._reload([user_id]))
        elif event.get("type") == "_suspension":
            self._apply_suspension(user_id, event)

    def _apply_suspension(self, user_id: str, event: dict[str, Any]) -> None:
        action = event.get("action")
        until = event.get("until")
        notice = {
            "type": "moderation.notice",
            "scope": "platform",
            "community_id": None,
            "action": action,
            "action_id": event.get("action_id"),
            "reason": event.get("reason"),
            "until": until,
        }
        conns = self._connections(user_id)
        for conn in conns:
            conn.send(notice)
            conn.suspended_until = until_seconds(_parse(until)) if action == "suspend" else None
        if action == "suspend" and conns:
            self.tasks.spawn(self._close(conns))

    async def _close(self, conns: list[Connection]) -> None:
        """Like a ban: out of every room (`room.closed`, `suspended`), then 4003."""
        for conn in conns:
            for room in list(conn.seats):
                await self.revocations.take_out(conn, room, "suspended")
            conn.close(CLOSE_FORBIDDEN, "your account is suspended")

    def after_gap(self) -> None:
        """The control channel had a gap: re-read every local user's blocks and suspension."""
        users = list(self.hub.users)
        for user_id in users:
            self._versions[user_id] = self._versions.get(user_id, 0) + 1
        if users:
            self.tasks.spawn(self._reload(users))

    async def _reload(self, user_ids: list[str]) -> None:
        for attempt in range(5):
            try:
                found = await self._read(user_ids)
                break
            except Exception as exc:  # noqa: BLE001 - the database may be down: try again
                log.warning("reading blocks and suspensions failed (%s)", exc)
                await asyncio.sleep(0.2 * 2**attempt)
        else:
            return
        for user_id, (blocked, until) in found.items():
            for conn in self._connections(user_id):
                self._set_blocked(conn, blocked)
                conn.suspended_until = until

    def _set_blocked(self, conn: Connection, blocked: frozenset[str]) -> None:
        self.hub.set_blocked(conn, blocked, list(conn.seats))

    def _connections(self, user_id: str) -> list[Connection]:
        return [c for c in self.hub.users.get(user_id, ()) if isinstance(c, Connection)]


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
