"""The time of day as the background parts of `live` read it, so tests can move it.

The notification sender, the schedule of lives and usage recording ask `services.clock.now()`
instead of the system clock: a test swaps in a `ManualClock` and advances it by ten minutes or
two hours in one line, while every database row and HTTP request stays real. Waiting (how long a
loop sleeps between passes) stays on real time; only "what time is it" is injected.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from (always timezone-aware UTC)."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that moves only when told to (tests, benchmarks replaying a day)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        start = start or dt.datetime.now(dt.UTC)
        if start.tzinfo is None:
            raise ValueError("a ManualClock starts at a timezone-aware time")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, seconds: float) -> dt.datetime:
        self._now += dt.timedelta(seconds=seconds)
        return self._now

    def set(self, when: dt.datetime) -> None:
        self._now = when.astimezone(dt.UTC)
