"""How many WebSockets one user holds: at most `LIVE_MAX_SOCKETS_PER_USER`, the oldest giving way.

Why the oldest gives way rather than the newest being refused: a phone on a flaky network opens a
new socket before the server has noticed that the previous one is dead (that takes up to 2.5
heartbeats, about a minute). Refusing the newest would lock that user out, by their own dead
sockets, for as long; closing the oldest lets them straight back in, and costs a live socket
only to someone who really holds more than the limit open (each newer one closes an older one,
so the count never grows). The closed one gets 4029 with a reason that says so; a client should
not reconnect it blindly (two devices over the limit would take turns closing each other).

Counted per node always (an ordered registry of the node's sockets per user) and across nodes
when Redis is configured: one sorted set per user, `{prefix}sockets:{user_id}`, session id ->
connect time in Redis's own clock (`TIME`: the nodes' clocks never disagree about which is
oldest). One script adds the new socket and removes and returns the oldest beyond the limit, so
two nodes admitting at once cannot both keep too many. The node that admitted publishes
`_evict {sessions}` on the user's channel and the node holding each one closes it. A node that
died without cleaning up leaves entries behind: they are the oldest, so the next admissions
remove them first (closing nothing); the key expires a day after the user's last connect. If
Redis cannot answer, the per-node count still holds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from live.bus import Bus, SharedRedis
from live.rooms import metrics
from live.rooms.channels import encode_event, user_channel
from live.signaling.session import CLOSE_FLOODING

if TYPE_CHECKING:
    from live.signaling.connection import Connection

log = logging.getLogger("live.signaling.sockets")

LIMIT_SOCKETS = "sockets_per_user"

KEY_TTL_SECONDS = 86400

# KEYS[1] the user's sockets; ARGV: the new session id, the limit, the key's ttl. Returns the
# session ids removed (the oldest beyond the limit, never the new one).
_ADMIT = """
local now = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(now[1]) * 1000000 + tonumber(now[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if over <= 0 then return {} end
local out = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, over)) do
  if sid ~= ARGV[1] and #out < over then out[#out + 1] = sid end
end
if #out > 0 then redis.call('ZREM', KEYS[1], unpack(out)) end
return out
"""

S = TypeVar("S")


class SocketLimit(Generic[S]):
    """The sockets of each user, oldest first, on this node (and their count across nodes)."""

    def __init__(self, limit: int, shared: SharedRedis | None = None) -> None:
        self.limit = limit
        self._redis = shared.client if shared is not None else None
        self._prefix = shared.prefix if shared is not None else ""
        self._script = self._redis.register_script(_ADMIT) if self._redis is not None else None
        self._local: dict[str, dict[str, S]] = {}  # user -> session id -> socket, oldest first

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}sockets:{user_id}"

    def admit(self, user_id: str, session_id: str, socket: S) -> list[S]:
        """Count a new socket of `user_id` on this node; the node's sockets that must give way."""
        mine = self._local.setdefault(user_id, {})
        mine[session_id] = socket
        over = len(mine) - self.limit
        if over <= 0:
            return []
        oldest = list(mine)[:over]
        return [mine.pop(sid) for sid in oldest]

    async def admit_across_nodes(self, user_id: str, session_id: str) -> list[str]:
        """Count it across nodes too; the session ids (on any node) that must give way."""
        if self._script is None:
            return []
        try:
            found = await self._script(keys=[self._key(user_id)],
                                       args=[session_id, self.limit, KEY_TTL_SECONDS])
        except Exception as exc:  # noqa: BLE001 - Redis down: the per-node count still holds
            log.warning("counting %s's sockets across nodes failed: %s", user_id, exc)
            return []
        return [sid.decode() if isinstance(sid, bytes) else str(sid) for sid in found or []]

    def local(self, user_id: str, session_id: str) -> S | None:
        return self._local.get(user_id, {}).get(session_id)

    async def release(self, user_id: str, session_id: str) -> None:
        """The socket closed: forget it here and across nodes."""
        mine = self._local.get(user_id)
        if mine is not None:
            mine.pop(session_id, None)
            if not mine:
                del self._local[user_id]
        if self._redis is None:
            return
        try:
            await self._redis.zrem(self._key(user_id), session_id)
        except Exception as exc:  # noqa: BLE001 - the entry goes when it is the oldest, or expires
            log.debug("forgetting a socket of %s across nodes failed: %s", user_id, exc)


class UserSockets:
    """The gateway's side: admit each new connection, close those that give way (4029)."""

    def __init__(self, limit: SocketLimit[Connection], bus: Bus) -> None:
        self.limit = limit
        self._bus = bus

    async def admit(self, conn: Connection) -> None:
        """Count a new connection; close the user's oldest beyond the limit, here or elsewhere."""
        user, sid = conn.user_id, conn.session.id
        for old in self.limit.admit(user, sid, conn):
            self._give_way(old)
            await self.limit.release(user, old.session.id)
        elsewhere: list[str] = []
        for old_sid in await self.limit.admit_across_nodes(user, sid):
            here = self.limit.local(user, old_sid)
            if here is not None:
                self._give_way(here)
            else:
                elsewhere.append(old_sid)
        if elsewhere:
            try:
                await self._bus.publish(user_channel(user), encode_event({"type": "_evict", "sessions": elsewhere}))
            except Exception as exc:  # noqa: BLE001 - they stay open until they close; the count is right
                log.warning("asking other nodes to close %s's oldest sockets failed: %s", user, exc)

    def evict(self, user_id: str, event: dict[str, Any]) -> None:
        """`_evict {sessions}` heard on the user's channel: close those held here."""
        sessions = event.get("sessions")
        for sid in sessions if isinstance(sessions, list) else []:
            conn = self.limit.local(user_id, sid) if isinstance(sid, str) else None
            if conn is not None:
                self._give_way(conn)

    async def release(self, conn: Connection) -> None:
        """The connection closed: it no longer counts."""
        await self.limit.release(conn.user_id, conn.session.id)

    def _give_way(self, conn: Connection) -> None:
        metrics.LIMITED.labels(LIMIT_SOCKETS).inc()
        conn.close(CLOSE_FLOODING, f"more than {self.limit.limit} connections for this user: "
                                   "a newer one replaced this one")
