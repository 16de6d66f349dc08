"""The bus: publish bytes to a channel, subscribe to channels as an async iterator.

Two implementations share one contract (tests/test_bus.py runs against both):
`MemoryBus` for one process, `RedisBus` across app nodes. `open_bus` picks the one the
settings ask for.
"""

from __future__ import annotations

from live.bus.base import Bus, Gap, Message, SharedRedis, Subscription
from live.bus.memory import MemoryBus
from live.bus.redis import RedisBus
from live.config import Settings

__all__ = ["Bus", "Gap", "Message", "SharedRedis", "Subscription", "open_bus"]


def open_bus(settings: Settings) -> Bus:
    """The bus the settings ask for: Redis when `LIVE_REDIS_URL` is set, else in-process."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, prefix=settings.redis_prefix, cluster=settings.redis_cluster)
    return MemoryBus()
