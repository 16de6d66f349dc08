"""A clock that moves only when the test says so, for code that sleeps (grace periods).

Give its `sleep` to the code under test; `advance(seconds)` wakes every sleeper whose time has
come. Sleeps are counted per asyncio task name, so a test can wait until a given timer is asleep
before moving time. Tests then wait for the outcome (a condition), never for wall-clock time.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.support.waiting import eventually


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None], str]] = []
        self.started: Counter[str] = Counter()  # task name -> sleeps begun

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

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for due, future, _ in self._sleepers:
            if due <= self.now and not future.done():
                future.set_result(None)


# The suite's one polling helper (tests/support/waiting.py), under the name older tests use.
until = eventually
