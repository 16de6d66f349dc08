"""Reactions, coalesced: counts per room and kind, drained about once a second.

A burst of ten thousand hearts must not become ten thousand frames to every viewer. Each node
counts its own viewers' reactions and publishes one partial count per room per tick on the room's
channel; every node adds up the partials it hears and pushes one `reactions` message per room per
tick to its local viewers. Pure: the caller drives `add`/`drain` from its own clock.
"""

from __future__ import annotations

from collections import Counter

from live.room_id import RoomId

# Kinds are client-chosen strings: bound how many distinct ones one room may carry per tick.
MAX_KINDS_PER_TICK = 32


class ReactionCounts:
    def __init__(self, max_kinds: int = MAX_KINDS_PER_TICK) -> None:
        self._rooms: dict[RoomId, Counter[str]] = {}
        self._max_kinds = max_kinds

    def add(self, room: RoomId, kind: str, n: int = 1) -> bool:
        """Count `n` reactions; False (dropped) when the room already has too many kinds."""
        counts = self._rooms.setdefault(room, Counter())
        if kind not in counts and len(counts) >= self._max_kinds:
            return False
        counts[kind] += n
        return True

    def merge(self, room: RoomId, counts: dict[str, int]) -> None:
        for kind, n in counts.items():
            if isinstance(kind, str) and isinstance(n, int) and n > 0:
                self.add(room, kind, n)

    def drain(self) -> dict[RoomId, dict[str, int]]:
        """Everything counted since the last drain, per room."""
        out = {room: dict(c) for room, c in self._rooms.items() if c}
        self._rooms.clear()
        return out

    def __bool__(self) -> bool:
        return any(self._rooms.values())
