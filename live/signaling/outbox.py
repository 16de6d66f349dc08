"""A connection's outgoing queue, capped in bytes (not messages: one 60 KiB message is not one
100-byte message).

Producers `put` batches of encoded messages (`live.frames.Batch`) without awaiting; the flusher
or the connection's writer `take`s everything queued and writes it as one frame (a batch queued
alone goes out as its shared, ready-made frame). Bytes taken but not yet written still count (`release` after
the write), so the cap bounds what the server holds for this client however the writer is doing.
Past the cap `put` returns False and the connection is closed (4008): the slow client is dropped,
nobody else waits for it.
"""

from __future__ import annotations

import asyncio

from live.frames import Batch

# One frame carries at most this much (a long backlog goes out as several frames).
MAX_BATCH_BYTES = 256 * 1024
MAX_BATCH_MESSAGES = 512


class Outbox:
    __slots__ = ("cap_bytes", "_parts", "queued_bytes", "inflight_bytes", "overflowed", "_wake")

    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        # A list, not a deque: an empty list costs 56 bytes, an empty deque over 600, and most
        # outboxes are empty most of the time (10,000 idle connections hold 10,000 of them).
        self._parts: list[tuple[Batch, float]] = []
        self.queued_bytes = 0
        self.inflight_bytes = 0
        self.overflowed = False
        self._wake: asyncio.Event | None = None

    @property
    def wake(self) -> asyncio.Event:
        """Set when something is queued (for a writer task that waits; made on first use)."""
        if self._wake is None:
            self._wake = asyncio.Event()
            if self._parts:
                self._wake.set()
        return self._wake

    def put(self, part: Batch, origin: float) -> bool:
        """Queue encoded messages (`origin`: when the oldest was published); False past the cap."""
        if self.overflowed:
            return False
        size = len(part)
        if self.queued_bytes + self.inflight_bytes + size > self.cap_bytes:
            self.overflowed = True
            self._parts.clear()
            self.queued_bytes = 0
            if self._wake is not None:
                self._wake.set()
            return False
        self._parts.append((part, origin))
        self.queued_bytes += size
        if self._wake is not None:
            self._wake.set()
        return True

    def take(self) -> list[tuple[Batch, float]]:
        """Everything queued, up to one frame's worth; the caller `release`s it once written."""
        parts = self._parts
        # (The message cap counts messages, not batches: 512 batches of 100 messages are 51,200.)
        if len(parts) == 1 or (self.queued_bytes <= MAX_BATCH_BYTES and len(parts) <= MAX_BATCH_MESSAGES
                               and sum(p.count for p, _ in parts) <= MAX_BATCH_MESSAGES):
            out, self._parts = parts, []  # the usual case: everything queued fits one frame
            size = self.queued_bytes
        else:
            size = n = messages = 0
            while n < len(parts):
                length, count = len(parts[n][0]), parts[n][0].count
                if n and (size + length > MAX_BATCH_BYTES or messages + count > MAX_BATCH_MESSAGES):
                    break
                size += length
                messages += count
                n += 1
            out = parts[:n]
            del parts[:n]
        self.queued_bytes -= size
        self.inflight_bytes += size
        if not self._parts and self._wake is not None:
            self._wake.clear()
        return out

    def release(self, size: int) -> None:
        self.inflight_bytes -= size

    def clear(self) -> None:
        self._parts.clear()
        self.queued_bytes = 0

    def __len__(self) -> int:
        return len(self._parts)
