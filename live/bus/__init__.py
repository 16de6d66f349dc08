"""The bus: publish bytes to a channel, subscribe to channels as an async iterator.

Two implementations share one contract (tests/test_bus.py runs against both):
`MemoryBus` for one process, `RedisBus` across app nodes.
"""

from live.bus.base import Bus, Gap, Message, Subscription, open_bus

__all__ = ["Bus", "Gap", "Message", "Subscription", "open_bus"]
