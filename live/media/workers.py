"""Media workers: relays in their own processes, reached by app nodes through Redis.

With `LIVE_MEDIA_WORKERS=1`, app nodes run no relay. `live media-worker` processes do:

- Each worker heartbeats `{prefix}media:worker:{id}` every second (JSON load, 3 s TTL).
- A room lives on one worker: the first publish claims `{prefix}media:rooms` [room] for the
  least-loaded live worker (`HSETNX`, so racing nodes agree), and later offers for the room go to it.
- Signaling is an RPC over Redis lists: the app node `RPUSH`es `{op, args, reply}` on
  `{prefix}media:rpc:{id}` and `BLPOP`s its private reply key. Lists, not pub/sub, so a request sent
  while the worker is busy is not lost. Media flows directly between clients and the worker.
- The worker publishes `media.published` / `media.unpublished` on the room's bus channel like any
  room event; app nodes keep doing every permission check (they own the database and gateway).
- Failover: app nodes sweep the room claims every second; a claim whose worker's heartbeat expired
  is deleted (`HDEL` returns 1 on exactly one node) and that node tells the room `media.restart`.
  Clients negotiate again and the room lands on a live worker. A recording cut by a dead worker is
  left as it was written (Matroska/WebM without its final index, still playable).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from live.bus import open_bus
from live.config import Settings
from live.media.recorder import Recorders
from live.media.relay import MediaError, Relay
from live.media.thumbnails import Thumbnails
from live.rooms.channels import encode_event, room_channel

log = logging.getLogger("live.media.workers")

HEARTBEAT = 1.0
TTL_MS = 3000
RPC_TIMEOUT = 20.0
OPS = ("publish", "subscribe", "unpublish", "unsubscribe", "end_room")


def _keys(prefix: str) -> dict[str, str]:
    return {"rooms": f"{prefix}media:rooms", "worker": f"{prefix}media:worker:", "rpc": f"{prefix}media:rpc:"}


class WorkerClient:
    """The app node's side: placement, RPC, and the failover sweep."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url, "media workers need LIVE_REDIS_URL"
        self.redis = aioredis.from_url(settings.redis_url)
        self.keys = _keys(settings.redis_prefix)

    async def close(self) -> None:
        await self.redis.aclose()

    async def workers(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        async for key in self.redis.scan_iter(match=self.keys["worker"] + "*"):
            raw = await self.redis.get(key)
            if raw:
                wid = key.decode().removeprefix(self.keys["worker"])
                out[wid] = json.loads(raw)
        return out

    async def owner(self, room: str, place: bool) -> str | None:
        """The worker owning `room`; with `place`, claim the least-loaded one if none (alive) does."""
        wid = await self.redis.hget(self.keys["rooms"], room)
        if wid is not None:
            wid = wid.decode()
            if await self.redis.exists(self.keys["worker"] + wid):
                return str(wid)
            if not place:
                return None
            await self.redis.hdel(self.keys["rooms"], room)
        if not place:
            return None
        alive = await self.workers()
        if not alive:
            from live.errors import ApiError, ErrorCode

            raise ApiError(ErrorCode.UNAVAILABLE, "no media worker is running")
        best = min(alive, key=lambda w: (alive[w].get("load", 0), w))
        await self.redis.hsetnx(self.keys["rooms"], room, best)
        winner = await self.redis.hget(self.keys["rooms"], room)
        return winner.decode() if winner else best

    async def call(self, wid: str, op: str, args: dict[str, Any]) -> Any:
        from live.errors import ApiError, ErrorCode

        reply = f"{self.keys['rpc']}reply:{os.urandom(8).hex()}"
        await self.redis.rpush(self.keys["rpc"] + wid, json.dumps({"op": op, "args": args, "reply": reply}))
        got = await self.redis.blpop([reply], timeout=RPC_TIMEOUT)
        if got is None:
            raise ApiError(ErrorCode.UNAVAILABLE, "the media worker did not answer; try again")
        answer = json.loads(got[1])
        if "error" in answer:
            raise MediaError(answer["error"], answer.get("message", "media error"))
        return answer.get("result")

    async def sweep(self) -> list[str]:
        """Rooms whose worker died, each returned by exactly one sweeping node."""
        lost = []
        for room, wid in (await self.redis.hgetall(self.keys["rooms"])).items():
            if not await self.redis.exists(self.keys["worker"] + wid.decode()):
                if await self.redis.hdel(self.keys["rooms"], room) == 1:
                    lost.append(room.decode())
        return lost

    async def forget(self, room: str) -> None:
        await self.redis.hdel(self.keys["rooms"], room)


class MediaWorker:
    """One `live media-worker` process: a relay, its recorder and thumbnails, heartbeats and RPC."""

    def __init__(self, settings: Settings, worker_id: str | None = None) -> None:
        assert settings.redis_url, "a media worker needs LIVE_REDIS_URL"
        self.settings = settings
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.keys = _keys(settings.redis_prefix)
        self.hosts: dict[str, str] = {}
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        from live.storage.db import Database

        self.redis = aioredis.from_url(self.settings.redis_url)  # type: ignore[arg-type]
        self.bus = open_bus(self.settings)
        await self.bus.start()
        self.db = Database(self.settings.database_url, synchronous=self.settings.sqlite_synchronous)
        var = Path(self.settings.var_dir)
        self.recorders = Recorders(var / "recordings", self.hosts) if self.settings.recording else None
        self.thumbnails = (
            Thumbnails(var / "thumbnails", self.hosts, self.settings.thumbnail_seconds, self._thumbnail)
            if self.settings.thumbnail_seconds > 0 else None
        )
        self.loop = asyncio.get_running_loop()
        self.relay = Relay(self.settings.ice_servers, self.settings.media_timeout_seconds,
                           self._published, self._unpublished, min_bitrate=self.settings.media_min_bitrate)
        for tap in (self.recorders, self.thumbnails):
            if tap is not None:
                self.relay.taps.append(tap.tap)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                self.loop.add_signal_handler(sig, self.stopping.set)
        beat = asyncio.create_task(self._heartbeat())
        log.info("media worker %s ready", self.id)
        try:
            while not self.stopping.is_set():
                got = await self.redis.blpop([self.keys["rpc"] + self.id], timeout=1)
                if got is not None:
                    self._spawn(self._handle(json.loads(got[1])))
        finally:
            beat.cancel()
            await self.redis.delete(self.keys["worker"] + self.id)
            await self.relay.close()
            if self.recorders is not None:
                await asyncio.to_thread(self.recorders.close_all)
            if self.thumbnails is not None:
                await asyncio.to_thread(self.thumbnails.close)
            await self.bus.close()
            await self.redis.aclose()
            await self.db.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _heartbeat(self) -> None:
        while True:
            load = len(self.relay.publications) + sum(len(p.subscriptions) for p in self.relay.publications.values())
            state = {"load": load, "pid": os.getpid(), "at": time.time()}
            try:
                await self.redis.set(self.keys["worker"] + self.id, json.dumps(state), px=TTL_MS)
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
            await asyncio.sleep(HEARTBEAT)

    async def _handle(self, request: dict[str, Any]) -> None:
        op, args, reply = request.get("op"), request.get("args") or {}, request.get("reply")
        try:
            if op not in OPS:
                raise MediaError("invalid", f"unknown operation {op!r}")
            room = args["room"]
            if op == "publish":
                if args.get("host_id"):
                    self.hosts[room] = args["host_id"]
                if self.recorders is not None and args.get("lid") and args["user_id"] == args.get("host_id"):
                    self.recorders.expect(room, args["lid"])
                result: Any = await self.relay.publish(room, args["user_id"], args["sdp"])
            elif op == "subscribe":
                result = await self.relay.subscribe(room, args["user_id"], args["publisher_id"], args["sdp"])
            elif op == "unpublish":
                result = await self.relay.unpublish(room, args["user_id"])
            elif op == "unsubscribe":
                result = await self.relay.unsubscribe(room, args["user_id"], args.get("publisher_id"))
            else:
                await self.relay.end_room(room, args.get("reason", "ended"))
                if self.recorders is not None:
                    await asyncio.to_thread(self.recorders.finish, room)
                if self.thumbnails is not None:
                    self.thumbnails.forget(room)
                self.hosts.pop(room, None)
                result = None
            answer: dict[str, Any] = {"result": result}
        except MediaError as exc:
            answer = {"error": exc.kind, "message": str(exc)}
        except Exception as exc:
            log.exception("media operation %s failed", op)
            answer = {"error": "invalid", "message": f"media operation failed: {exc}"}
        if reply:
            await self.redis.rpush(reply, json.dumps(answer))
            await self.redis.expire(reply, 60)

    def _published(self, room: str, user_id: str, kinds: list[str]) -> None:
        self._spawn(self._event({"type": "media.published", "room": room, "user_id": user_id, "kinds": kinds}))

    def _unpublished(self, room: str, user_id: str, kinds: list[str], reason: str) -> None:
        self._spawn(self._event({"type": "media.unpublished", "room": room, "user_id": user_id, "kinds": kinds}))

    async def _event(self, event: dict[str, Any]) -> None:
        try:
            await self.bus.publish(room_channel(event["room"]), encode_event(event))
        except Exception:
            log.warning("publishing %s failed", event["type"], exc_info=True)

    def _thumbnail(self, room: str, path: Path) -> None:
        from live.media.service import store_thumbnail

        self.loop.call_soon_threadsafe(lambda: self._spawn(store_thumbnail(self.db, room, path)))


def run(settings: Settings, worker_id: str | None = None) -> int:
    asyncio.run(MediaWorker(settings, worker_id).run())
    return 0
