"""Reads shared by requests that arrive together: what makes a join storm cheap.

Two tools, both for the moment a live starts and hundreds of members connect and join at once:

- `Coalescer`: one read of the same thing (a live's row, its state, the chat's last messages)
  shared by the callers gathered before it starts;
- `Batcher`: one read of many keys (the users connecting, the members joining one community)
  for the callers that arrive in the same event-loop iteration, like a data loader.

`Coalescer` in detail:

When a live starts, hundreds of members join its room within seconds, and each join reads the
same things: the live's row, its state (stage, pinned message, host) and the chat's last
messages. `Coalescer.run(key, read)` lets the callers that arrive while a read of `key` has not
*started* yet share that one read: the first caller schedules it for the next event-loop
iteration, later callers of the same iteration (and of the ones after, until it starts) wait for
the same result.

Sharing only reads that start after a caller arrived is what keeps joins exact: a joiner is in the
room's fan-out before it asks for the state, so a read that starts later sees everything the
joiner will not get live. (A read already under way may predate a joiner's arrival: that joiner
waits for the next one.) No result outlives its read: this is not a cache, nothing goes stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

Loader = Callable[[list[Any]], Awaitable[dict[Any, Any]]]
T = TypeVar("T")


class Coalescer:
    def __init__(self) -> None:
        self._gathering: dict[Hashable, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`'s result, shared with the other callers of `key` gathered before it starts."""
        future: asyncio.Future[T] | None = self._gathering.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieved)  # even if every waiter was cancelled meanwhile
            self._gathering[key] = future
            task = asyncio.create_task(self._read(key, future, read))  # starts next iteration
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(future)

    async def _read(self, key: Hashable, future: asyncio.Future[T], read: Callable[[], Awaitable[T]]) -> None:
        if self._gathering.get(key) is future:
            del self._gathering[key]  # from here on, newcomers gather for the next read
        try:
            result = await read()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every waiter gets the same failure
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)

    def __len__(self) -> int:
        return len(self._gathering)


class Batcher:
    """`await batcher.load(key)`: the keys asked for in one loop iteration, read by one call.

    `read(keys)` returns {key: value} (a missing key answers None); a failure goes to every
    caller of that batch. A batch holds at most `max_batch` keys (an SQL `IN` list stays sane).
    """

    def __init__(self, read: Loader, *, max_batch: int = 500) -> None:
        self._read = read
        self._max = max_batch
        self._batch: dict[Any, asyncio.Future[Any]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self, key: Any) -> Any:
        batch = self._batch
        if batch is None or len(batch) >= self._max:
            batch = self._batch = {}
            task = asyncio.create_task(self._run(batch))  # starts next iteration
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        future = batch.get(key)
        if future is None:
            future = batch[key] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieved)
        return await asyncio.shield(future)

    async def _run(self, batch: dict[Any, asyncio.Future[Any]]) -> None:
        if self._batch is batch:
            self._batch = None
        try:
            found = await self._read(list(batch))
        except asyncio.CancelledError:
            for future in batch.values():
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the failure
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for key, future in batch.items():
            if not future.done():
                future.set_result(found.get(key))


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
