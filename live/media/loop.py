"""The event loop media runs on: uvloop's where it is installed, else asyncio's.

A relay's work is almost all datagrams out: for every packet of every viewer one `sendto`. asyncio's
own UDP transport spends Python on each (about a quarter of a busy relay's CPU, profiled with 250
viewers), uvloop's is C. uvloop comes with `uvicorn[standard]` (the app nodes already run on it);
where it is missing (Windows), media runs on asyncio's loop, slower, the same otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the fastest kind installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - not on this platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on `new_loop()`'s kind of loop."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main)
