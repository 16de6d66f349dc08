"""The Redis bus: pub/sub across app nodes, with its own heartbeat and reconnection.

Each `RedisSubscription` owns one pub/sub connection and a reader task. The reader:

- pings the server when the connection has been quiet for `heartbeat` seconds and treats a pong
  that does not come within `heartbeat` more as a dead connection (a half-open TCP connection
  never raises on its own);
- on any connection error reconnects with capped, jittered exponential backoff, resubscribes every
  channel, and yields a `Gap` for them so the consumer recovers what it may have missed;
- bounds its queue: a consumer that falls `max_queue` messages behind gets a `Gap` instead.

Channel names get the deployment prefix (`LIVE_REDIS_PREFIX`) on the wire only.

Sharded mode (`sharded=True`, and always with `cluster=True`, i.e. `LIVE_REDIS_CLUSTER=1`) uses
SPUBLISH / SSUBSCRIBE: in a Redis Cluster a shard channel lives on the node that owns its hash
slot, so each room's traffic stays on one shard instead of being broadcast to every node of the
cluster as classic PUBLISH is. Standalone Redis 7 speaks the same commands (one shard), which is
how the mode is tested without a cluster.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from live.bus.base import Bus, Event, Gap, Message, SharedRedis, Subscription
from live.errors import ApiError, ErrorCode

log = logging.getLogger("live.bus.redis")

BACKOFF_MIN = 0.05
BACKOFF_MAX = 5.0


class RedisSubscription(Subscription):
    def __init__(self, bus: RedisBus, *, heartbeat: float, max_queue: int) -> None:
        self._bus = bus
        self._prefix = bus.prefix
        self._heartbeat = heartbeat
        self._max_queue = max_queue
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._pubsub: Any = None
        self._connected = asyncio.Event()
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._closed = False
        self._overflowed = False
        self._sharded = bus.sharded
        self._cluster = bus.cluster
        self._task = asyncio.create_task(self._run(), name="redis-subscription")

    async def _sub(self, pubsub: Any, channels: list[str]) -> None:
        names = [self._prefix + c for c in channels]
        if self._sharded:
            await pubsub.ssubscribe(*names)
        else:
            await pubsub.subscribe(*names)

    async def _unsub(self, pubsub: Any, channels: list[str]) -> None:
        names = [self._prefix + c for c in channels]
        if self._sharded:
            await pubsub.sunsubscribe(*names)
        else:
            await pubsub.unsubscribe(*names)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def subscribe(self, *channels: str, timeout: float = 10.0) -> None:
        new = [c for c in channels if c not in self._channels]
        if not new:
            return
        loop = asyncio.get_running_loop()
        waits = []
        for channel in new:
            self._channels.add(channel)
            fut = self._pending.get(channel)
            if fut is None or fut.done():
                fut = loop.create_future()
                self._pending[channel] = fut
            waits.append(fut)
        if self._connected.is_set():
            try:
                await self._sub(self._pubsub, new)
            except (RedisError, OSError):
                pass  # the reader notices, reconnects and subscribes everything again
        try:
            await asyncio.wait_for(asyncio.gather(*(asyncio.shield(w) for w in waits)), timeout)
        except TimeoutError:
            raise ApiError(ErrorCode.UNAVAILABLE, "the bus (Redis) is unavailable; retry") from None

    async def unsubscribe(self, *channels: str) -> None:
        gone = [c for c in channels if c in self._channels]
        for channel in gone:
            self._channels.discard(channel)
            fut = self._pending.pop(channel, None)
            if fut is not None and not fut.done():
                fut.cancel()
        if gone and self._connected.is_set():
            try:
                await self._unsub(self._pubsub, gone)
            except (RedisError, OSError):
                pass

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing regardless
            pass
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._queue.put_nowait(None)
        self._bus._subscriptions.discard(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            if isinstance(event, Gap):
                self._overflowed = False
            yield event

    # -- the reader -------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if isinstance(event, Message) and self._queue.qsize() >= self._max_queue:
            if not self._overflowed:
                self._overflowed = True
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._queue.put_nowait(Gap(frozenset(self._channels), "queue full"))
            return
        if self._overflowed and isinstance(event, Message):
            return  # dropped until the consumer has read the Gap: it recovers from history
        self._queue.put_nowait(event)

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        first = True
        while not self._closed:
            pubsub = self._bus.client.pubsub()
            try:
                if self._cluster:
                    # The slot map first; the pubsub then connects per shard as it subscribes.
                    await self._bus.client.initialize()
                else:
                    await pubsub.connect()
                self._pubsub = pubsub
                if self._channels:
                    await self._sub(pubsub, list(self._channels))
                self._connected.set()
                if not first and self._channels:
                    self._emit(Gap(frozenset(self._channels), "reconnected"))
                    log.info("redis bus reconnected; resubscribed %d channels", len(self._channels))
                first = False
                backoff = BACKOFF_MIN
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ConnectionError, TimeoutError) as exc:
                if self._closed:
                    break
                log.warning("redis bus connection lost (%s); reconnecting in %.2fs", exc, backoff)
            finally:
                self._connected.clear()
                self._pubsub = None
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001 - the connection is already broken
                    pass
            if self._closed:
                break
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        ping_sent_at: float | None = None
        last_heard = loop.time()
        data_kind, confirm_kind = ("smessage", "ssubscribe") if self._sharded else ("message", "subscribe")
        while True:
            if self._cluster:
                message = await pubsub.get_sharded_message(timeout=min(1.0, self._heartbeat))
                if message is None and not pubsub.node_pubsub_mapping:
                    await asyncio.sleep(min(1.0, self._heartbeat))  # nothing subscribed yet
            else:
                message = await pubsub.get_message(timeout=min(1.0, self._heartbeat))
            now = loop.time()
            if message is None:
                if ping_sent_at is not None and now - ping_sent_at > self._heartbeat:
                    raise ConnectionError("no pong from Redis within the heartbeat")
                if ping_sent_at is None and now - last_heard > self._heartbeat:
                    await self._ping(pubsub)
                    ping_sent_at = now
                continue
            last_heard = now
            ping_sent_at = None
            kind = _text(message["type"])
            if kind == data_kind:
                channel = _text(message["channel"])[len(self._prefix):]
                if channel in self._channels:
                    self._emit(Message(channel, message["data"]))
            elif kind == confirm_kind:
                channel = _text(message["channel"])[len(self._prefix):]
                fut = self._pending.pop(channel, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)


    async def _ping(self, pubsub: Any) -> None:
        if not self._cluster:
            await pubsub.ping()
            return
        # A cluster pubsub holds one connection per shard it subscribed on: ping each.
        shards = list(pubsub.node_pubsub_mapping.values())
        if not shards:
            await self._bus.client.ping()  # nothing subscribed: is the cluster there at all?
            return
        for shard in shards:
            await shard.ping()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisBus(Bus):
    """Pub/sub over one Redis server (clients reconnect by themselves)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "live:",
        heartbeat: float = 5.0,
        max_queue: int = 100_000,
        sharded: bool = False,
        cluster: bool = False,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._heartbeat = heartbeat
        self._max_queue = max_queue
        self.cluster = cluster
        self.sharded = sharded or cluster
        self.client: Any
        if cluster:
            self.client = RedisCluster.from_url(
                url, socket_connect_timeout=2.0, socket_keepalive=True,
            )
        else:
            self.client = aioredis.Redis.from_url(
                url,
                socket_connect_timeout=2.0,
                socket_timeout=None,
                socket_keepalive=True,
                health_check_interval=0,
                retry_on_timeout=False,
            )
        self._subscriptions: set[RedisSubscription] = set()
        self._shared = SharedRedis(self.client, prefix, self.sharded)

    @property
    def redis(self) -> SharedRedis:
        return self._shared

    async def start(self) -> None:
        return None  # connections open lazily; readiness reports whether Redis answers

    async def close(self) -> None:
        for sub in list(self._subscriptions):
            await sub.close()
        await self.client.aclose()

    async def publish(self, channel: str, data: bytes) -> None:
        try:
            if self.sharded:
                await self.client.spublish(self.prefix + channel, data)
            else:
                await self.client.publish(self.prefix + channel, data)
        except (RedisError, OSError) as exc:
            raise ApiError(ErrorCode.UNAVAILABLE, "the bus (Redis) is unavailable; retry") from exc

    def subscription(self) -> Subscription:
        sub = RedisSubscription(self, heartbeat=self._heartbeat, max_queue=self._max_queue)
        self._subscriptions.add(sub)
        return sub

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.client.ping(), 2.0))
        except (RedisError, OSError, TimeoutError):
            return False
