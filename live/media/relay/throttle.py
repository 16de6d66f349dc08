"""At most one keyframe request a second reaches a publisher, and none is lost.

Keyframes are 5-20x the size of delta frames: a keyframe storm (every joiner, every lossy viewer,
every edge asking at once) would congest every viewer's link at the same moment. A request inside
the window is deferred to the window's end, and further requests merge into it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("live.media")

KEYFRAME_INTERVAL = 1.0  # seconds: at most one PLI a second reaches a publisher, per source


class Cancellable(Protocol):
    def cancel(self) -> None: ...


CallLater = Callable[[float, Callable[[], None]], Cancellable]


class KeyframeThrottle:
    """At most one keyframe request per `interval`; a request inside the window is sent at its end.

    `send` returns False when it could not ask yet (no media seen, so no SSRC to address): the
    request is then tried again at the end of the next window.

    `clock` and `call_later` are the time it goes by (tests give a manual clock's).
    """

    def __init__(self, send: Callable[[], Awaitable[bool]], interval: float = KEYFRAME_INTERVAL,
                 clock: Callable[[], float] = time.monotonic, call_later: CallLater | None = None) -> None:
        self.send = send
        self.interval = interval
        self.clock = clock
        self._call_later = call_later  # None: the running event loop's
        self.last = -1e9
        self.pending: Cancellable | None = None
        self.sent = 0
        self.requested = 0
        self._sending: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    def request(self) -> None:
        self.requested += 1
        if self.pending is not None:
            return  # one is already scheduled: coalesce
        wait = self.last + self.interval - self.clock()
        if wait <= 0:
            self._fire()
        else:
            self.pending = self._later(wait)

    def _fire(self) -> None:
        self.pending = None
        self.last = self.clock()
        self.sent += 1
        task = asyncio.ensure_future(self._send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self) -> None:
        try:
            if not await self.send():
                self.sent -= 1
                self.pending = self._later(self.interval)
        except Exception:
            log.debug("keyframe request failed", exc_info=True)

    def _later(self, delay: float) -> Cancellable:
        if self._call_later is not None:
            return self._call_later(delay, self._fire)
        return asyncio.get_running_loop().call_later(delay, self._fire)

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
