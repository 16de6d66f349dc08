"""Domain events inside one process: HTTP services emit, the gateway turns them into pushes.

A service that changes something clients should hear about in real time (an announcement, a
moderation action, a live starting) calls `events.emit(name, payload)`; whoever cares registers
with `events.on(name, handler)`. Keeping this seam in-process means the HTTP domains never import
the gateway, and the gateway decides how an event crosses nodes (the bus).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("live.events")

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Events:
    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)

    def on(self, name: str, handler: Handler) -> None:
        self._handlers[name].append(handler)

    async def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Run every handler of `name`; one failing handler is logged and does not stop others."""
        for handler in list(self._handlers.get(name, ())):
            try:
                await handler(payload)
            except Exception:
                log.exception("event handler for %s failed", name)
