"""The node hub's pure parts: seq continuity per room (a jump means recover, not deliver)."""

from __future__ import annotations

from typing import Any

import pytest

from live.bus.memory import MemoryBus
from live.rooms.hub import Hub


def hub_with_room(room: str) -> tuple[Hub, list[str]]:
    holes: list[str] = []
    hub = Hub(MemoryBus(), on_internal=lambda c, e: None, on_gap=holes.append, on_hole=holes.append)
    hub.rooms[room] = set()
    return hub, holes


def chat(seq: int, epoch: str = "e1") -> dict[str, Any]:
    return {"type": "chat.message", "epoch": epoch, "seq": seq}


# (position noted at join, events in, which go out now, final position)
CASES = [
    (None, [chat(1), chat(2), chat(3)], [True, True, True], ("e1", 3)),
    (("e1", 5), [chat(6), chat(7)], [True, True], ("e1", 7)),
    (("e1", 5), [chat(5), chat(4)], [True, True], ("e1", 5)),  # old: connections de-duplicate
    (("e1", 5), [chat(7)], [False], ("e1", 5)),  # 6 never came: recover
    (("e1", 5), [chat(6, "e2")], [False], ("e1", 5)),  # another epoch: recover (it will resync)
    (("e1", 5), [{"type": "stage.updated"}, chat(6)], [True, True], ("e1", 6)),
    (("e1", 5), [{"type": "chat.deleted", "seq": 99}], [True], ("e1", 5)),  # not a position
]


@pytest.mark.parametrize(("start", "events", "out", "final"), CASES)
def test_seq_continuity(start: Any, events: list[dict[str, Any]], out: list[bool], final: Any) -> None:
    hub, _ = hub_with_room("live:x")
    if start is not None:
        hub.note_position("live:x", *start)
    assert [hub._in_sequence("live:x", e) for e in events] == out
    assert hub.chat_position.get("live:x") == final


def test_note_position_only_moves_forward_and_only_for_local_rooms() -> None:
    hub, _ = hub_with_room("live:x")
    hub.note_position("live:x", "e1", 9)
    hub.note_position("live:x", "e1", 3)
    assert hub.chat_position["live:x"] == ("e1", 9)
    hub.note_position("live:x", "e2", 1)  # a new epoch replaces the old position
    assert hub.chat_position["live:x"] == ("e2", 1)
    hub.note_position("live:elsewhere", "e1", 1)
    assert "live:elsewhere" not in hub.chat_position
