"""The in-process bus: one node, no network, same contract as Redis."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

from live.bus.base import Bus, Event, Gap, Message, SharedRedis, Subscription


class MemorySubscription(Subscription):
    def __init__(self, bus: MemoryBus, max_queue: int) -> None:
        self._bus = bus
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._max_queue = max_queue
        self._closed = False
        self._overflowed = False

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def subscribe(self, *channels: str) -> None:
        for channel in channels:
            self._channels.add(channel)
            self._bus._subs[channel].add(self)

    async def unsubscribe(self, *channels: str) -> None:
        for channel in channels:
            self._channels.discard(channel)
            subs = self._bus._subs.get(channel)
            if subs is not None:
                subs.discard(self)
                if not subs:
                    del self._bus._subs[channel]

    def _deliver(self, message: Message) -> None:
        if self._queue.qsize() >= self._max_queue:
            # The consumer fell far behind: drop and tell it to recover, never grow without bound.
            if not self._overflowed:
                self._overflowed = True
                self._drain()
                self._queue.put_nowait(Gap(frozenset(self._channels), "queue full"))
            return
        if self._overflowed:
            return  # dropped until the consumer has read the Gap: it recovers from history
        self._queue.put_nowait(message)

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.unsubscribe(*list(self._channels))
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            if isinstance(event, Gap):
                self._overflowed = False
            yield event


class MemoryBus(Bus):
    def __init__(self, *, max_queue: int = 100_000) -> None:
        self._subs: defaultdict[str, set[MemorySubscription]] = defaultdict(set)
        self._max_queue = max_queue

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.close()

    async def publish(self, channel: str, data: bytes) -> None:
        message = Message(channel, data)
        for sub in list(self._subs.get(channel, ())):
            sub._deliver(message)

    def subscription(self) -> Subscription:
        return MemorySubscription(self, self._max_queue)

    async def ping(self) -> bool:
        return True

    @property
    def redis(self) -> SharedRedis | None:
        return None
