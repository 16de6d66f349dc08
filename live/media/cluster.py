"""The app node's view of the media processes: routing, placement, and what happens when one dies.

`MediaCluster` is the same whether the media processes are this node's own (`LocalWorkers`, the
default) or `live media-worker`s reached through Redis (`RedisWorkers`): both are a
`WorkerDirectory` (who is alive with what state, a call to one of them, and the room claims).

A live's tree: its publishers' room has one origin (claimed when the first publisher arrives);
each viewer is placed by `live.media.placement` and told, when placed away from the origin, the
origin's pipe address, so that the worker becomes (or already is) an edge of that feed.

Deaths, found by `sweep` each second:
- a room whose origin died is released once across the cluster and its room told `media.restart`
  (everyone renegotiates; the room lands on a live worker), as before the tree existed;
- an edge that died takes only its own viewers with it: this node tells each viewer it placed there
  `media.restart` with the publisher, and they subscribe again (to a live worker).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from live.errors import ApiError, ErrorCode
from live.media.placement import WorkerState, choose_origin, choose_viewer_worker
from live.media.relay import MediaError
from live.media.worker import feed_key

log = logging.getLogger("live.media.cluster")

SWEEP_SECONDS = 1.0
RECENT_SECONDS = 5.0  # placements remembered past a worker's reports (states are up to 1 s old)

# (room, publisher or None for every publisher, users or None for the whole room)
RestartHook = Callable[[str, str | None, list[str] | None], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Placed:
    """An SDP answer and the media process that gave it."""

    sdp: str
    worker: str


class WorkerDirectory(Protocol):
    """Who the media processes are and how to reach them."""

    async def ready(self) -> None:
        """Wait until media processes can take work (local: started and reporting)."""

    async def workers(self) -> dict[str, WorkerState]:
        """The live ones, with their latest state."""

    async def call(self, wid: str, op: str, args: dict[str, Any]) -> Any:
        """Run `op` on one worker: its result, MediaError for a refusal, ApiError(unavailable)."""

    async def room_owner(self, room: str) -> str | None: ...

    async def claim_room(self, room: str, wid: str) -> str:
        """Make `wid` the room's origin unless another already is; the origin."""

    async def release_room(self, room: str) -> None: ...

    async def lost_rooms(self) -> list[str]:
        """Rooms whose origin died, each released and returned once across the cluster."""

    async def close(self) -> None: ...


class MediaCluster:
    """Routes media operations to the right media process."""

    def __init__(self, directory: WorkerDirectory, viewers_per_worker: int, on_restart: RestartHook,
                 hears_viewers_leave: bool = False) -> None:
        self.directory = directory
        self.hears_viewers_leave = hears_viewers_leave  # the workers tell this node when a viewer goes
        self.per_worker = viewers_per_worker
        self.on_restart = on_restart
        self.placed: dict[tuple[str, str, str], str] = {}  # (room, publisher, viewer) -> worker
        self.recent: list[tuple[float, str, str]] = []  # (time.time(), worker, feed) of placements
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="media-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.directory.close()

    # -- operations -------------------------------------------------------------------------------
    async def publish(self, room: str, user_id: str, sdp: str, host_id: str, lid: str) -> Placed:
        await self.directory.ready()
        workers = await self.directory.workers()
        owner = await self.directory.room_owner(room)
        if owner is not None and owner not in workers:
            await self.directory.release_room(room)  # its origin died (the sweep tells the room)
            owner = None
        if owner is None:
            if not workers:
                raise ApiError(ErrorCode.UNAVAILABLE, "no media worker is running; try again")
            owner = await self.directory.claim_room(room, choose_origin(workers, self._recent_load()))
        args = {"room": room, "user_id": user_id, "sdp": sdp, "host_id": host_id, "lid": lid}
        return Placed(str(await self.directory.call(owner, "publish", args)), owner)

    async def subscribe(self, room: str, user_id: str, publisher_id: str, sdp: str) -> Placed:
        origin = await self.directory.room_owner(room)
        workers = await self.directory.workers() if origin is not None else {}
        if origin is None or origin not in workers:
            raise MediaError("not_found", "that publisher is not sending media in this room")
        feed = feed_key(room, publisher_id)
        wid = choose_viewer_worker(feed, origin, workers, self.per_worker, self._recent_viewers(workers))
        key = (room, publisher_id, user_id)
        previous = self.placed.get(key)
        if previous is not None and previous != wid and previous in workers:
            await self._quietly(previous, "unsubscribe",
                                {"room": room, "user_id": user_id, "publisher_id": publisher_id})
        args: dict[str, Any] = {"room": room, "user_id": user_id, "publisher_id": publisher_id, "sdp": sdp}
        if wid != origin:
            args["origin"] = workers[origin].pipe
        answer = str(await self.directory.call(wid, "subscribe", args))
        self.placed[key] = wid
        self.recent.append((time.time(), wid, feed))
        return Placed(answer, wid)

    def holds(self, room: str, publisher_id: str, user_id: str) -> bool | None:
        """Whether a viewer this node placed is still subscribed (None: this node cannot tell)."""
        if not self.hears_viewers_leave:
            return None
        return (room, publisher_id, user_id) in self.placed

    def viewer_left(self, room: str, publisher_id: str, user_id: str, worker: str) -> None:
        """A worker says a viewer's connection went (failed, closed, unsubscribed)."""
        if self.placed.get((room, publisher_id, user_id)) == worker:
            del self.placed[(room, publisher_id, user_id)]

    async def unpublish(self, room: str, user_id: str) -> None:
        owner = await self.directory.room_owner(room)
        if owner is not None and owner in await self.directory.workers():
            await self.directory.call(owner, "unpublish", {"room": room, "user_id": user_id})

    async def unsubscribe(self, room: str, user_id: str, publisher_id: str | None) -> None:
        """Stop `user_id` watching one publisher (or all) in `room`, wherever they were placed."""
        known = {k: w for k, w in self.placed.items()
                 if k[0] == room and k[2] == user_id and (publisher_id is None or k[1] == publisher_id)}
        for key in known:
            del self.placed[key]
        workers = await self.directory.workers()
        # the workers this node placed them on, and any other carrier of the room (another node may
        # have placed them: a WHEP session's DELETE can reach any node)
        targets = set(known.values()) | {w.id for w in workers.values()
                                         if any(f.split("\n", 1)[0] == room for f in w.feeds)}
        args = {"room": room, "user_id": user_id, "publisher_id": publisher_id}
        for wid in targets & set(workers):
            await self._quietly(wid, "unsubscribe", args)

    async def end_room(self, room: str, reason: str) -> None:
        workers = await self.directory.workers()
        owner = await self.directory.room_owner(room)
        carriers = {w.id for w in workers.values() if any(f.split("\n", 1)[0] == room for f in w.feeds)}
        if owner is not None:
            carriers.add(owner)
        for wid in carriers & set(workers):
            await self._quietly(wid, "end_room", {"room": room, "reason": reason})
        await self.directory.release_room(room)
        for key in [k for k in self.placed if k[0] == room]:
            del self.placed[key]

    async def stats(self) -> dict[str, Any]:
        """Every live worker's relay stats, by worker id."""
        out: dict[str, Any] = {}
        for wid in await self.directory.workers():
            try:
                out[wid] = await self.directory.call(wid, "stats", {"room": ""})
            except (ApiError, MediaError):
                continue
        return out

    async def _quietly(self, wid: str, op: str, args: dict[str, Any]) -> None:
        try:
            await self.directory.call(wid, op, args)
        except (ApiError, MediaError) as exc:
            log.debug("media %s on %s failed: %s", op, wid, exc)

    def _recent_viewers(self, workers: dict[str, WorkerState]) -> dict[tuple[str, str], int]:
        """Placements made here since each worker's last report (not counted in it yet)."""
        now = time.time()
        self.recent = [r for r in self.recent if now - r[0] < RECENT_SECONDS]
        counts: dict[tuple[str, str], int] = {}
        for at, wid, feed in self.recent:
            state = workers.get(wid)
            if state is not None and at >= state.at:
                counts[(wid, feed)] = counts.get((wid, feed), 0) + 1
        return counts

    def _recent_load(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, wid, _ in self.recent:
            counts[wid] = counts.get(wid, 0) + 1
        return counts

    # -- deaths -------------------------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("the media sweep failed", exc_info=True)

    async def sweep(self) -> None:
        for room in await self.directory.lost_rooms():
            log.warning("media %s: its origin worker is gone; asking the room to negotiate again", room)
            for key in [k for k in self.placed if k[0] == room]:
                del self.placed[key]
            await self.on_restart(room, None, None)
        alive = await self.directory.workers()
        lost: dict[tuple[str, str], list[str]] = {}
        for (room, publisher, user), wid in list(self.placed.items()):
            if wid not in alive:
                del self.placed[(room, publisher, user)]
                lost.setdefault((room, publisher), []).append(user)
        for (room, publisher), users in lost.items():
            log.warning("media %s: an edge of %s's feed is gone; moving its %d viewer(s)", room, publisher, len(users))
            await self.on_restart(room, publisher, users)
