"""The bus interface and what a subscription yields."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import AsyncIterator
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """Bytes published on a channel."""

    channel: str
    data: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Gap:
    """Messages on these channels may have been missed (a reconnect, or a full queue).

    The consumer fills the gap from durable history (chat recovery) or re-reads state.
    """

    channels: frozenset[str]
    reason: str


Event = Message | Gap


@dataclasses.dataclass(frozen=True, slots=True)
class SharedRedis:
    """The Redis a bus runs on, for the parts that keep node-shared state beside it (presence,
    chat streams, sockets per user, HLS viewers): one client, one key prefix.

    `client` is a `redis.asyncio.Redis` or, with `LIVE_REDIS_CLUSTER=1`, a `RedisCluster`: both
    answer the commands and scripts those parts use. `sharded`: rooms use SPUBLISH/SSUBSCRIBE.
    """

    client: Any
    prefix: str
    sharded: bool = False


class Subscription(abc.ABC):
    """A changing set of channels and the stream of what is published on them.

    `subscribe` returns once the subscription is in force: anything published after it returns
    is delivered (barring a `Gap`). Iterating yields `Message`s in publish order per channel.
    """

    @property
    @abc.abstractmethod
    def channels(self) -> frozenset[str]: ...

    @abc.abstractmethod
    async def subscribe(self, *channels: str) -> None: ...

    @abc.abstractmethod
    async def unsubscribe(self, *channels: str) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Bus(abc.ABC):
    """Fan-out between app nodes."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send `data` to every subscription of `channel` on every node.

        Raises ApiError(unavailable) when the bus cannot be reached.
        """

    @abc.abstractmethod
    def subscription(self) -> Subscription:
        """A new, empty subscription (the caller closes it)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """Whether the bus is reachable now (readiness)."""

    @property
    @abc.abstractmethod
    def redis(self) -> SharedRedis | None:
        """The Redis this bus runs on, or None (in-process: state stays on the node)."""
