"""Wait for a condition, never for a duration: the suite's one polling helper.

`await eventually(predicate)` polls `predicate()` (a plain function or a coroutine function) until
it returns something truthy, and returns that value. When `timeout` passes first, the test fails
with `what` (or the predicate's name) and the last value seen, so a stuck wait says what it waited
for. `poll()` is the same loop for a caller that wants a bool instead of an AssertionError (a test
that asserts on it itself, or waits for something that may legitimately not happen).

A fixed `asyncio.sleep` in a test is either the thing under test (a rate window, "nothing arrives
within X") and says so in a comment, or it should be one of these.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def _value(predicate: Callable[[], Any]) -> Any:
    result = predicate()
    if inspect.isawaitable(result):
        result = await result
    return result


async def eventually(predicate: Callable[[], Any], timeout: float = 30.0, *, interval: float = 0.02,
                     what: str | None = None) -> Any:
    """`predicate()`'s first truthy value (sync or async predicate); fails the test after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await _value(predicate)
        if value:
            return value
        if loop.time() >= deadline:
            name = what or getattr(predicate, "__qualname__", None) or repr(predicate)
            raise AssertionError(f"timed out after {timeout:g}s waiting for {name} (last value: {value!r})")
        await asyncio.sleep(interval)


async def poll(predicate: Callable[[], Any], timeout: float = 30.0, *, interval: float = 0.02) -> bool:
    """Whether `predicate()` (sync or async) becomes truthy within `timeout` seconds."""
    try:
        await eventually(predicate, timeout, interval=interval)
    except AssertionError:
        return False
    return True
