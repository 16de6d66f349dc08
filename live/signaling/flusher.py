"""The node's flusher: every connection's queued messages written at once, once per loop iteration.

A delivery marks its connection (once until flushed); the flusher writes each marked connection's
outbox as frames through the server's synchronous write (`live.signaling.wire`). See
docs/fanout.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from live.rooms import metrics
from live.signaling.session import CLOSE_SERVER_ERROR

log = logging.getLogger("live.signaling.flusher")


class Flushable(Protocol):
    """A connection as the flusher sees it (`live.signaling.connection.Connection`)."""

    @property
    def user_id(self) -> str: ...

    def flush_now(self, now: float, loop_now: float) -> tuple[int, int, float]: ...

    def abort(self, code: int, reason: str) -> None: ...


class Scheduler(Protocol):
    """What the flusher asks of the event loop (tests give it a manual clock instead)."""

    def time(self) -> float: ...

    def call_soon(self, callback: Callable[[], object]) -> object: ...

    def call_at(self, when: float, callback: Callable[[], object]) -> object: ...


class Flusher:
    """Writes what deliveries queued, for all marked connections at once, once per loop iteration.

    A delivery marks its connection (once until flushed); the first mark of an iteration
    schedules one callback that writes each marked connection's whole outbox as one frame. A
    room event reaching 1,000 connections costs 1,000 synchronous writes and one callback,
    instead of 1,000 task wake-ups.

    While messages keep coming, flushes average at most one per `interval` seconds (the node's
    `LIVE_WRITE_INTERVAL_MS`), with up to `burst` of them back to back: a token bucket. A mark
    that finds no token waits until one is due, and what arrives meanwhile goes out in the same
    frames. The write syscall is most of a delivery's cost, so a room at 300 messages a second
    costs a few writes per member instead of 300, for at most one interval of added latency. A
    room slower than one message an interval (40 a second at 20 ms) gains nothing from waiting
    (there is nothing to merge), and with a burst of a few tokens its messages go out at once;
    with `burst` 1 every flush after the first waits out the interval since the last.
    """

    __slots__ = ("interval", "burst", "_marked", "_scheduled", "_tokens", "_refilled", "_loop")

    def __init__(self, interval: float = 0.0, loop: Scheduler | None = None, *, burst: float = 1.0) -> None:
        self.interval = interval
        self.burst = max(1.0, burst)
        self._loop = loop  # None: the running event loop
        self._marked: list[Flushable] = []
        self._scheduled = False
        self._tokens = self.burst  # flushes that may go at once, as of `_refilled` (loop time)
        self._refilled = float("-inf")

    def _available(self, now: float) -> float:
        return min(self.burst, self._tokens + (now - self._refilled) / self.interval)

    def mark(self, conn: Flushable) -> None:
        self._marked.append(conn)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop or asyncio.get_running_loop()
            if self.interval <= 0:
                loop.call_soon(self.flush)
                return
            now = loop.time()
            tokens = self._available(now)
            if tokens >= 1.0:
                loop.call_soon(self.flush)
            else:
                loop.call_at(now + (1.0 - tokens) * self.interval, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        marked, self._marked = self._marked, []
        loop_now = (self._loop or asyncio.get_running_loop()).time()
        if self.interval > 0:
            self._tokens = max(0.0, self._available(loop_now) - 1.0)
            self._refilled = loop_now
        now = time.time()
        messages = written = 0
        oldest = now
        for conn in marked:
            try:
                m, f, origin = conn.flush_now(now, loop_now)
            except Exception:
                log.exception("flushing a connection of %s failed", conn.user_id)
                conn.abort(CLOSE_SERVER_ERROR, "server error")
                continue
            messages += m
            written += f
            oldest = min(oldest, origin)
        if written:
            # Once per flush, for its oldest message: the metric costs nothing per recipient.
            metrics.MESSAGES_OUT.inc(messages)
            metrics.FRAMES_OUT.inc(written)
            metrics.FANOUT_LAG.observe(max(0.0, now - oldest))
