"""Who is watching a live over HLS: distinct players seen in the last `WINDOW` seconds.

A player is known by the viewer id its playlist URL carries (`?v=`, given by the first
playlist request's redirect, live.media.hls_api). Every playlist request marks it seen, on this
node and without I/O (`seen`). Once a second (`sync`):

- without Redis, counts are this node's own;
- with Redis, each node adds the ids it saw since the last sync to `{prefix}hls:viewers:{lid}`
  (a sorted set scored by time), trims what is older than the window, and reads the count of
  every live it serves or was asked about. A player whose requests land on several app nodes is
  one member of the set, counted once.

Players whose user is also in the live's room over the WebSocket (the web client plays HLS and
chats at the same time; it says so with `joined=1`) are in a second set, `...:joined`: the
live's `hls_viewer_count` counts both, while `room.viewers` adds only the others to the room's
WebSocket viewers, so nobody is counted twice.
"""

from __future__ import annotations

import logging
import time

from live.bus import SharedRedis

log = logging.getLogger("live.media.hls_viewers")

WINDOW = 15.0  # seconds: longer than a blocked playlist request (3 target durations) plus a reload
ASKED_SECONDS = 60.0  # a live asked about is read from Redis for this long after the last ask


class HlsViewers:
    """Distinct HLS players per live over a sliding window, across nodes through Redis."""

    def __init__(self, shared: SharedRedis | None = None, window: float = WINDOW) -> None:
        self.redis = shared.client if shared is not None else None
        self.prefix = shared.prefix if shared is not None else ""
        self.window = window
        # lid -> {viewer id: (last seen, joined)} on this node
        self.local: dict[str, dict[str, tuple[float, bool]]] = {}
        self.fresh: dict[str, dict[str, tuple[float, bool]]] = {}  # seen since the last sync
        self.counts: dict[str, tuple[int, int]] = {}  # lid -> (all, joined), as of the last sync
        self.asked: dict[str, float] = {}

    # -- local, no I/O ---------------------------------------------------------------------------
    def seen(self, lid: str, viewer: str, joined: bool, now: float | None = None) -> None:
        """A playlist request of `viewer` (its user also in the room over WebSocket: `joined`)."""
        at = time.time() if now is None else now
        self.local.setdefault(lid, {})[viewer] = (at, joined)
        self.fresh.setdefault(lid, {})[viewer] = (at, joined)

    def count(self, lid: str) -> int:
        """HLS players of the live (the live object's `hls_viewer_count`)."""
        return self._counts(lid)[0]

    def outside(self, lid: str) -> int:
        """HLS players not also counted as the room's WebSocket viewers (added to `room.viewers`)."""
        total, joined = self._counts(lid)
        return max(0, total - joined)

    def _counts(self, lid: str) -> tuple[int, int]:
        if self.redis is not None:
            self.asked[lid] = time.monotonic()
            return self.counts.get(lid, (0, 0))
        return self._local_counts(lid, time.time())

    def _local_counts(self, lid: str, now: float) -> tuple[int, int]:
        viewers = self.local.get(lid)
        if not viewers:
            return (0, 0)
        since = now - self.window
        live = [joined for at, joined in viewers.values() if at >= since]
        return (len(live), sum(live))

    def lids(self) -> list[str]:
        """Lives with HLS players on this node."""
        return list(self.local)

    def _prune(self, now: float) -> None:
        since = now - self.window
        for lid in list(self.local):
            viewers = self.local[lid]
            for viewer in [v for v, (at, _) in viewers.items() if at < since]:
                del viewers[viewer]
            if not viewers:
                del self.local[lid]

    # -- across nodes ----------------------------------------------------------------------------
    def _key(self, lid: str, joined: bool) -> str:
        return f"{self.prefix}hls:viewers:{{{lid}}}" + (":joined" if joined else "")

    async def sync(self, now: float | None = None) -> dict[str, int]:
        """Share this node's sightings and refresh the counts; {lid: count} of local lives."""
        now = time.time() if now is None else now
        self._prune(now)
        fresh, self.fresh = self.fresh, {}
        if self.redis is None:
            return {lid: self._local_counts(lid, now)[0] for lid in self.local}
        since = now - self.window
        stale = time.monotonic() - ASKED_SECONDS
        for lid in [lid for lid, at in self.asked.items() if at < stale]:
            del self.asked[lid]
            if lid not in self.local:
                self.counts.pop(lid, None)
        read = sorted(set(self.local) | set(self.asked))
        pipe = self.redis.pipeline(transaction=False)
        for lid, viewers in fresh.items():
            for joined in (False, True):
                members = {v: at for v, (at, j) in viewers.items() if j == joined}
                if members:
                    pipe.zadd(self._key(lid, joined), members)
        for lid in read:
            for joined in (False, True):
                key = self._key(lid, joined)
                pipe.zremrangebyscore(key, "-inf", since)
                pipe.expire(key, int(self.window * 4))
                pipe.zcard(key)
        try:
            results = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - Redis down: keep the last counts, retry next tick
            log.debug("HLS viewer sync failed: %s", exc)
            for lid, viewers in fresh.items():
                self.fresh.setdefault(lid, {}).update(viewers)
            return {lid: self.counts.get(lid, (0, 0))[0] for lid in self.local}
        cards = results[len(results) - 6 * len(read):][2::3]
        for i, lid in enumerate(read):
            plain, in_room = int(cards[2 * i]), int(cards[2 * i + 1])
            self.counts[lid] = (plain + in_room, in_room)
        return {lid: self.counts[lid][0] for lid in self.local}
