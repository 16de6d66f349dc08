"""Group commit: the appends of a busy room share one transaction and one publish.

A room's appends are serialized by its row lock (the order of `seq` is the order of commits), so
one at a time a room takes as many messages a second as one transaction's round trips allow:
BEGIN and the lock, the nonce check, the INSERT, COMMIT, the publish to Redis. Under load each
round trip waits for a turn of a busy event loop, and a room of 1,000 viewers topped out below 200
messages a second with every sender queued behind the lock.

Here, on each node, a room has at most one writer task. An append that finds one running joins
its queue; the writer takes everything queued (up to `MAX_BATCH`) and stores it in one
transaction, in arrival order, with consecutive seqs, then publishes the batch as one bus
message (the stream entries one per seq, as before). Each caller still gets its own answer: the
stored event, the stored event of an earlier message with the same nonce, or its own error
(slow mode refuses one message, not the batch). A quiet room pays nothing for it: the first
append finds no queue and starts a writer at once (with whatever arrives in the same turn of the
event loop). Across nodes the row lock still orders the commits; a node publishes its batches
in commit order, after each commit, and a subscriber's hub puts two nodes' publishes back in seq
order when one overtakes the other (`live.chat.service`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from live.auth.tokens import Principal
from live.errors import ApiError, ErrorCode

MAX_BATCH = 100  # messages in one transaction (and one bus message)
CLOSE_GRACE = 5.0  # seconds a stopping node gives the batches in flight to commit


def _stopping() -> ApiError:
    return ApiError(ErrorCode.UNAVAILABLE, "the server is stopping; retry")


@dataclasses.dataclass(slots=True)
class Append:
    """One message waiting to be stored; `done` gets its event or its error."""

    user: Principal
    text: str
    nonce: str
    slow: int  # the room's slow mode for this user, seconds (0: none)
    done: asyncio.Future[dict[str, Any]]

    def answer(self, result: dict[str, Any] | BaseException) -> None:
        if self.done.done():
            return  # the caller went away (its connection closed): the message stays stored
        if isinstance(result, BaseException):
            self.done.set_exception(result)
        else:
            self.done.set_result(result)


StoreBatch = Callable[[str, list[Append]], Awaitable[None]]


class RoomWriters:
    """At most one writer task per room on this node; appends queue behind it.

    `store_batch(room, batch)` stores a batch and answers every `Append` in it; an exception it
    raises answers the unanswered ones with that error.
    """

    def __init__(self, store_batch: StoreBatch, max_batch: int = MAX_BATCH) -> None:
        self._store_batch = store_batch
        self.max_batch = max_batch
        self._queues: dict[str, list[Append]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def append(self, room: str, user: Principal, text: str, nonce: str, slow: int) -> dict[str, Any]:
        item = Append(user, text, nonce, slow, asyncio.get_running_loop().create_future())
        queue = self._queues.get(room)
        if queue is not None:
            queue.append(item)  # a writer is storing a batch of this room: the next one is ours
        else:
            self._queues[room] = [item]
            task = asyncio.create_task(self._write(room), name=f"chat-writer {room}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await item.done

    def queued(self, room: str) -> int:
        return len(self._queues.get(room) or ())

    async def _write(self, room: str) -> None:
        queue = self._queues[room]
        try:
            while queue:
                batch = queue[: self.max_batch]
                del queue[: self.max_batch]
                try:
                    await self._store_batch(room, batch)
                except asyncio.CancelledError:
                    for item in batch:  # rolled back: not stored, and told so
                        item.answer(_stopping())
                    raise
                except Exception as exc:  # noqa: BLE001 - each caller gets the error, the room goes on
                    for item in batch:
                        item.answer(exc)
        finally:
            # No await since the last look at the queue: nothing can have joined it meanwhile.
            left = self._queues.pop(room, [])
            for item in left:
                item.answer(_stopping())

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Let the writers store what is queued for up to `grace` seconds, then stop them: whoever
        still waits gets `unavailable` (nothing of theirs was stored)."""
        if self._tasks and grace > 0:
            await asyncio.wait(list(self._tasks), timeout=grace)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
