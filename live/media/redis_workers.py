"""Media workers on any machine, reached through Redis (`LIVE_MEDIA_WORKERS=1`).

`live media-worker` processes run a `MediaWorker` whose link is Redis:

- State: each worker writes its state (`MediaWorker.state`: load, pipe address, feeds) to
  `{prefix}media:worker:{id}` every second with a 3 s TTL; a worker whose key expired is dead.
- Room claims: `{prefix}media:rooms` [room] = the origin worker, claimed with `HSETNX` so racing app
  nodes agree; a claim whose worker is dead is deleted by the app nodes' sweep (`HDEL` returns 1 on
  exactly one node, which tells the room `media.restart`).
- Requests are an RPC over Redis lists: the app node `RPUSH`es `{op, args, reply}` on
  `{prefix}media:rpc:{id}` and `BLPOP`s its private reply key. Lists, not pub/sub, so a request
  sent while the worker is busy is not lost.
- Events: the worker publishes `media.published` / `media.unpublished` on the room's bus channel
  like any room event, and notes thumbnails on the live's row itself.
- Media flows directly between clients and workers (their candidates are in the answers), and
  between workers over the pipes of the relay tree (their `host:port` is in their state).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from live.bus import open_bus
from live.config import Settings
from live.errors import ApiError, ErrorCode
from live.media.placement import WorkerState
from live.media.relay import MediaError
from live.media.worker import STATE_SECONDS, MediaWorker
from live.rooms.channels import encode_event, room_channel

log = logging.getLogger("live.media.workers")

TTL_MS = 3000
RPC_TIMEOUT = 20.0


def _keys(prefix: str) -> dict[str, str]:
    return {"rooms": f"{prefix}media:rooms", "worker": f"{prefix}media:worker:", "rpc": f"{prefix}media:rpc:"}


class RedisWorkers:
    """The app node's side: a `WorkerDirectory` over Redis."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url, "media workers need LIVE_REDIS_URL"
        self.redis = aioredis.from_url(settings.redis_url)
        self.keys = _keys(settings.redis_prefix)
        self._cache: tuple[float, dict[str, WorkerState]] = (0.0, {})

    async def ready(self) -> None:
        return None

    async def close(self) -> None:
        await self.redis.aclose()

    async def workers(self) -> dict[str, WorkerState]:
        """The live workers' states (read at most every 200 ms: a join storm asks often)."""
        loop = asyncio.get_running_loop()
        at, cached = self._cache
        if loop.time() - at < 0.2:
            return cached
        out: dict[str, WorkerState] = {}
        keys = [key async for key in self.redis.scan_iter(match=self.keys["worker"] + "*")]
        for _key, raw in zip(keys, await self.redis.mget(keys) if keys else [], strict=True):
            if raw:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    state = WorkerState.parse(json.loads(raw))
                    out[state.id] = state
        self._cache = (loop.time(), out)
        return out

    def states(self) -> list[WorkerState]:
        """The states last read (for /metrics)."""
        return list(self._cache[1].values())

    async def call(self, wid: str, op: str, args: dict[str, Any]) -> Any:
        reply = f"{self.keys['rpc']}reply:{os.urandom(8).hex()}"
        await self.redis.rpush(self.keys["rpc"] + wid, json.dumps({"op": op, "args": args, "reply": reply}))
        got = await self.redis.blpop([reply], timeout=RPC_TIMEOUT)
        if got is None:
            raise ApiError(ErrorCode.UNAVAILABLE, "the media worker did not answer; try again")
        answer = json.loads(got[1])
        if "error" in answer:
            raise MediaError(answer["error"], answer.get("message", "media error"))
        return answer.get("result")

    async def room_owner(self, room: str) -> str | None:
        wid = await self.redis.hget(self.keys["rooms"], room)
        return _text(wid) if wid is not None else None

    async def claim_room(self, room: str, wid: str) -> str:
        await self.redis.hsetnx(self.keys["rooms"], room, wid)
        winner = await self.redis.hget(self.keys["rooms"], room)
        return _text(winner) if winner else wid

    async def release_room(self, room: str) -> None:
        await self.redis.hdel(self.keys["rooms"], room)

    async def lost_rooms(self) -> list[str]:
        lost = []
        for room, wid in (await self.redis.hgetall(self.keys["rooms"])).items():
            if (not await self.redis.exists(self.keys["worker"] + _text(wid))
                    and await self.redis.hdel(self.keys["rooms"], room) == 1):
                lost.append(_text(room))
        return lost


class RedisLink:
    """A `live media-worker`'s link to the app nodes: state keys, an RPC list, the bus."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url, "a media worker needs LIVE_REDIS_URL"
        self.settings = settings
        self.keys = _keys(settings.redis_prefix)
        self.redis = aioredis.from_url(settings.redis_url)
        self.bus = open_bus(settings)
        self.db: Any = None
        self.worker: MediaWorker | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    async def serve(self, worker: MediaWorker) -> None:
        from live.storage.db import Database

        self.worker = worker
        await self.bus.start()
        self.db = Database(self.settings.database_url, synchronous=self.settings.sqlite_synchronous)
        beat = asyncio.ensure_future(self._heartbeat(worker))
        try:
            while True:
                got = await self.redis.blpop([self.keys["rpc"] + worker.id], timeout=1)
                if got is not None:
                    self._spawn(self._handle(worker, json.loads(got[1])))
        finally:
            beat.cancel()

    async def _heartbeat(self, worker: MediaWorker) -> None:
        while True:
            try:
                await self.redis.set(self.keys["worker"] + worker.id, json.dumps(worker.state()), px=TTL_MS)
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
            await asyncio.sleep(STATE_SECONDS)

    async def _handle(self, worker: MediaWorker, request: dict[str, Any]) -> None:
        op, args, reply = request.get("op"), request.get("args") or {}, request.get("reply")
        try:
            answer: dict[str, Any] = {"result": await worker.handle(str(op), args)}
        except MediaError as exc:
            answer = {"error": exc.kind, "message": str(exc)}
        except Exception as exc:
            log.exception("media operation %s failed", op)
            answer = {"error": "invalid", "message": f"media operation failed: {exc}"}
        if reply:
            await self.redis.rpush(reply, json.dumps(answer))
            await self.redis.expire(reply, 60)

    def emit(self, event: dict[str, Any]) -> None:
        if event["type"] == "thumbnail":
            self._spawn(self._thumbnail(event["room"], Path(event["path"])))
        elif event["type"] in ("media.published", "media.unpublished"):
            public = {k: event[k] for k in ("type", "room", "user_id", "kinds")}
            self._spawn(self._publish(public))

    async def _publish(self, event: dict[str, Any]) -> None:
        try:
            await self.bus.publish(room_channel(event["room"]), encode_event(event))
        except Exception:
            log.warning("publishing %s failed", event["type"], exc_info=True)

    async def _thumbnail(self, room: str, path: Path) -> None:
        from live.media.thumbnails import store_thumbnail

        await store_thumbnail(self.db, room, path)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.worker is not None:
            with contextlib.suppress(Exception):
                await self.redis.delete(self.keys["worker"] + self.worker.id)
        with contextlib.suppress(Exception):
            await self.bus.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        if self.db is not None:
            await self.db.close()


def _text(value: bytes | str) -> str:
    """A Redis reply as text (bytes: this client does not decode replies)."""
    return value.decode() if isinstance(value, bytes) else value
