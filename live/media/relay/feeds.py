"""What a relay carries: feeds (one publisher's media in a room) and the subscriptions to them.

A `Publication` is a feed whose publisher is connected to this relay (the origin of its tree); a
`RelayedFeed` is a feed that this relay receives from the origin over a pipe (an edge of the tree,
`live.media.pipe`). Viewers subscribe to either the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiortc import RTCPeerConnection

from live.media.relay.output import Output
from live.media.relay.source import Source, Tap


class FeedOwner(Protocol):
    """The relay a feed belongs to (`live.media.relay.relay.Relay`)."""

    taps: list[Tap]

    async def end_feed(self, feed: Feed, reason: str, announce: bool = True) -> None: ...


@dataclasses.dataclass(eq=False)
class Subscription:
    """One viewer's connection to one feed."""

    room: str
    user_id: str
    publisher_id: str
    pc: RTCPeerConnection
    outputs: list[Output]
    closed: bool = False

    async def close(self) -> None:
        self.closed = True
        for output in self.outputs:
            output.stop()
        await self.pc.close()


class Feed:
    """One publisher's media in a room, as this relay has it."""

    local = False  # a publication at this relay (taps run only there)

    def __init__(self, relay: FeedOwner, room: str, user_id: str) -> None:
        self.relay = relay
        self.room = room
        self.user_id = user_id
        self.sources: dict[str, Source] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.closed = False
        self.started = time.monotonic()
        self._ending: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    @property
    def key(self) -> tuple[str, str]:
        return (self.room, self.user_id)

    @property
    def taps(self) -> list[Tap]:
        return self.relay.taps if self.local else []

    def kinds(self) -> list[str]:
        return sorted(self.sources)

    def source_ended(self, source: Source) -> None:
        """A BYE or a lost transport on any track ends the whole feed."""
        if not self.closed:
            task = asyncio.ensure_future(self.relay.end_feed(self, "ended"))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    async def close(self) -> None:
        self.closed = True
        for source in self.sources.values():
            source.close()
        for sub in list(self.subscriptions.values()):
            await sub.close()
        self.subscriptions.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "origin": self.local,
            "subscribers": len(self.subscriptions),
            "sources": {kind: source.stats() for kind, source in self.sources.items()},
        }


class Publication(Feed):
    """A publisher connected to this relay: the origin of its feed."""

    local = True

    def __init__(self, relay: FeedOwner, room: str, user_id: str, pc: RTCPeerConnection) -> None:
        super().__init__(relay, room, user_id)
        self.pc = pc

    async def close(self) -> None:
        await super().close()
        await self.pc.close()


class RelayedFeed(Feed):
    """A feed received from its origin over a pipe: this relay is an edge of its tree."""

    def __init__(self, relay: FeedOwner, room: str, user_id: str, detach: Callable[[], None]) -> None:
        super().__init__(relay, room, user_id)
        self._detach = detach
        self.idle_since: float | None = None

    async def close(self) -> None:
        await super().close()
        self._detach()
