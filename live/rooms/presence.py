"""Who is watching: per-room viewer counts, global across nodes.

Each node knows its own connections exactly (`add` / `remove`, no I/O). With Redis, once a second
(`sync`) every node writes its share of each room it serves and reads the others':

- `{prefix}presence:{room}` (hash): node id -> "viewers|unix time" (a node that stops refreshing
  drops out after `FRESH_SECONDS`, and the key expires when every node is gone);
- `{prefix}presence:{room}:{node}` (set): the user ids this node has in the room (for
  `user_count`: is the host still connected anywhere?).

A viewer is a distinct user on a node, the live's host excluded; a user watching through two nodes
counts twice (rare, and self-correcting when one socket goes). Without Redis the counts are the
node's own.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from live.bus import SharedRedis
from live.room_id import RoomId

log = logging.getLogger("live.rooms.presence")

FRESH_SECONDS = 5.0
KEY_TTL_SECONDS = 30
WATCH_SECONDS = 60.0


class Presence:
    def __init__(self, node_id: str, shared: SharedRedis | None = None) -> None:
        self.node_id = node_id
        self._redis = shared.client if shared is not None else None
        self._prefix = shared.prefix if shared is not None else ""
        self._local: dict[RoomId, Counter[str]] = {}
        self._excluded: dict[RoomId, str] = {}
        self._global: dict[RoomId, int] = {}
        self._toggled: dict[RoomId, set[str]] = {}  # room -> users whose 0/1 presence changed
        self._gone: set[RoomId] = set()
        self._syncs = 0
        # Rooms this node has no viewers in but was asked about (the live tab): read each sync
        # while they keep being asked, so the tab shows every node's viewers.
        self._watched: dict[RoomId, float] = {}

    # -- local, pure

    def add(self, room: RoomId, user_id: str) -> int:
        """One more connection of `user_id` in `room`; the user's local connection count."""
        users = self._local.setdefault(room, Counter())
        users[user_id] += 1
        self._gone.discard(room)
        if users[user_id] == 1:
            self._toggled.setdefault(room, set()).add(user_id)
        return users[user_id]

    def remove(self, room: RoomId, user_id: str) -> int:
        users = self._local.get(room)
        if users is None or users[user_id] <= 0:
            return 0
        users[user_id] -= 1
        left = users[user_id]
        if left == 0:
            del users[user_id]
            self._toggled.setdefault(room, set()).add(user_id)
            if not users:
                del self._local[room]
                self._gone.add(room)
                self._global.pop(room, None)
        return left

    def exclude(self, room: RoomId, user_id: str | None) -> None:
        """Do not count `user_id` (a live's host) among the room's viewers."""
        if user_id:
            self._excluded[room] = user_id

    def local_count(self, room: RoomId) -> int:
        users = self._local.get(room)
        if not users:
            return 0
        host = self._excluded.get(room)
        return len(users) - (1 if host in users else 0)

    def local_user_count(self, room: RoomId, user_id: str) -> int:
        users = self._local.get(room)
        return users[user_id] if users else 0

    def rooms(self) -> list[RoomId]:
        return list(self._local)

    def count(self, room: RoomId) -> int:
        """The room's viewers across nodes as of the last sync (this node's own before one)."""
        if self._redis is None:
            return self.local_count(room)
        if room not in self._local:
            self._watched[room] = time.monotonic()
            return self._global.get(room, 0)
        return self._global.get(room, self.local_count(room))

    # -- across nodes (Redis)

    def _hash(self, room: RoomId) -> str:
        return f"{self._prefix}presence:{{{room}}}"

    def _set(self, room: RoomId, node: str) -> str:
        return f"{self._prefix}presence:{{{room}}}:{node}"

    async def sync(self) -> dict[RoomId, int]:
        """Publish this node's shares and read the global counts of its rooms."""
        if self._redis is None:
            self._toggled.clear()
            self._gone.clear()
            return {room: self.local_count(room) for room in self._local}
        now = time.time()
        rooms = list(self._local)
        toggled, self._toggled = self._toggled, {}
        gone, self._gone = self._gone, set()
        # Every tenth sync rewrites the user sets whole (Redis may have restarted empty).
        self._syncs += 1
        full = self._syncs % 10 == 1
        pipe = self._redis.pipeline(transaction=False)
        for room in rooms:
            key = self._hash(room)
            pipe.hset(key, self.node_id, f"{self.local_count(room)}|{now:.3f}")
            pipe.expire(key, KEY_TTL_SECONDS)
            users_key = self._set(room, self.node_id)
            users = self._local[room]
            if full:
                pipe.delete(users_key)
                pipe.sadd(users_key, *users)
            for user in () if full else toggled.get(room, ()):
                if users[user] > 0:
                    pipe.sadd(users_key, user)
                else:
                    pipe.srem(users_key, user)
            pipe.expire(users_key, KEY_TTL_SECONDS)
        for room in gone:
            if room not in self._local:
                pipe.hdel(self._hash(room), self.node_id)
                pipe.delete(self._set(room, self.node_id))
        asked_since = time.monotonic() - WATCH_SECONDS
        for room, asked in list(self._watched.items()):
            if asked < asked_since or room in self._local:
                del self._watched[room]
                if room not in self._local:
                    self._global.pop(room, None)
        watched = list(self._watched)
        for room in rooms + watched:
            pipe.hgetall(self._hash(room))
        try:
            results = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - Redis down: keep the last counts, retry next tick
            log.debug("presence sync failed: %s", exc)
            for room, changed in toggled.items():
                self._toggled.setdefault(room, set()).update(changed)
            self._gone |= gone
            return {room: self.count(room) for room in rooms}
        out: dict[RoomId, int] = {}
        read = rooms + watched
        for room, shares in zip(read, results[len(results) - len(read):], strict=False):
            total = 0
            for node, value in _fresh(shares, now):
                total += value if _text(node) != self.node_id else 0
            total += self.local_count(room)
            self._global[room] = total
            if room in self._local:
                out[room] = total
        return out

    async def user_count(self, room: RoomId, user_id: str) -> int:
        """Connections of `user_id` in `room`: exact here, plus one per other node that has any."""
        local = self.local_user_count(room, user_id)
        if self._redis is None:
            return local
        try:
            shares = await self._redis.hgetall(self._hash(room))
            others = [_text(n) for n, _ in _fresh(shares, time.time()) if _text(n) != self.node_id]
            if not others:
                return local
            pipe = self._redis.pipeline(transaction=False)
            for node in others:
                pipe.sismember(self._set(room, node), user_id)
            found = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - unknown elsewhere: report what we know
            log.warning("presence user_count failed: %s", exc)
            return local
        return local + sum(1 for f in found if f)


def _fresh(shares: dict[Any, Any], now: float) -> list[tuple[Any, int]]:
    out = []
    for node, raw in (shares or {}).items():
        try:
            count, _, at = _text(raw).partition("|")
            if now - float(at) <= FRESH_SECONDS:
                out.append((node, int(count)))
        except ValueError:
            continue
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
