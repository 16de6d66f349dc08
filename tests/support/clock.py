"""A clock that moves only when the test says so, for code that waits on time.

What the code under test is given, by what it waits with:

- `sleep` (grace periods): `advance(seconds)` wakes every sleeper whose time has come. Sleeps are
  counted per asyncio task name, so a test can wait until a given timer is asleep before moving
  time;
- `time` / `monotonic` (a `clock=` callable: caches, the keyframe throttle): the manual time;
- `call_soon` / `call_later` / `call_at` (timers, as on the event loop: the flusher, the keyframe
  throttle): run by `advance()` once due, in time order; `call_soon` callbacks at the next
  `advance()` (`advance(0)` is "the next loop iteration").

`ClockShift` is the other kind: real time, moved ahead on demand, for a server that runs in the
test's process (a timed sanction's expiry: `live.storage.base.wall_clock`, and a cache's
monotonic `clock=`).

Tests then wait for the outcome (a condition), never for wall-clock time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.support.waiting import eventually


class ClockShift:
    """Real time plus `offset` seconds: `advance()` jumps ahead. Install it with `install()`
    (a monkeypatch), which makes `live.storage.base.utcnow()` read it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def utcnow(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def install(self, monkeypatch: Any) -> ClockShift:
        from live.storage import base

        monkeypatch.setattr(base, "wall_clock", self.utcnow)
        return self


class Timer:
    """A manual clock's scheduled callback (what `call_later` returns: it can be cancelled)."""

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, asyncio.Future[None], str]] = []
        self.started: Counter[str] = Counter()  # task name -> sleeps begun
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    monotonic = time

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(self.now + delay, callback, *args)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(self.now, callback, *args)

    @property
    def timers(self) -> list[float]:
        """When the callbacks still to run are due, soonest first."""
        return sorted(when for when, _, timer in self._timers if not timer.cancelled)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        name = task.get_name() if task is not None else ""
        self._sleepers.append((self.now + seconds, future, name))
        self.started[name] += 1
        try:
            await future
        finally:
            self._sleepers = [s for s in self._sleepers if s[1] is not future]

    def asleep(self, name: str) -> bool:
        """Whether the task called `name` is sleeping now."""
        return any(n == name and not f.done() for _, f, n in self._sleepers)

    def advance(self, seconds: float = 0.0) -> None:
        """Move time on by `seconds`: run each timer due by then (at its own time, in order; those
        it schedules too, when due), then wake the sleepers whose time has come."""
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.now = max(self.now, when)
            timer.callback(*timer.args)
        self.now = end
        for due, future, _ in self._sleepers:
            if due <= self.now and not future.done():
                future.set_result(None)


# The suite's one polling helper (tests/support/waiting.py), under the name older tests use.
until = eventually
