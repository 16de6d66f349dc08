"""A connection's outgoing queue, capped in bytes (not messages: one 60 KiB message is not one
100-byte message).

Producers `put` encoded messages without awaiting; the connection's writer `take`s everything
queued and writes it as one frame. Bytes taken but not yet written still count (`release` after
the write), so the cap bounds what the server holds for this client however the writer is doing.
Past the cap `put` returns False and the connection is closed (4008): the slow client is dropped,
nobody else waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque

# One frame carries at most this much (a long backlog goes out as several frames).
MAX_BATCH_BYTES = 256 * 1024
MAX_BATCH_MESSAGES = 512


class Outbox:
    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        self._parts: deque[tuple[bytes, float]] = deque()
        self.queued_bytes = 0
        self.inflight_bytes = 0
        self.overflowed = False
        self.wake = asyncio.Event()

    def put(self, part: bytes, origin: float) -> bool:
        """Queue one encoded message (`origin`: when it was published); False past the cap."""
        if self.overflowed:
            return False
        size = len(part)
        if self.queued_bytes + self.inflight_bytes + size > self.cap_bytes:
            self.overflowed = True
            self._parts.clear()
            self.queued_bytes = 0
            self.wake.set()
            return False
        self._parts.append((part, origin))
        self.queued_bytes += size
        self.wake.set()
        return True

    def take(self) -> list[tuple[bytes, float]]:
        """Everything queued, up to one frame's worth; the caller `release`s it once written."""
        out: list[tuple[bytes, float]] = []
        size = 0
        while self._parts and len(out) < MAX_BATCH_MESSAGES:
            part, origin = self._parts[0]
            if out and size + len(part) > MAX_BATCH_BYTES:
                break
            self._parts.popleft()
            out.append((part, origin))
            size += len(part)
        self.queued_bytes -= size
        self.inflight_bytes += size
        if not self._parts:
            self.wake.clear()
        return out

    def release(self, size: int) -> None:
        self.inflight_bytes -= size

    def clear(self) -> None:
        self._parts.clear()
        self.queued_bytes = 0

    def __len__(self) -> int:
        return len(self._parts)
