"""The hub's per-recipient filter: a chat message skips exactly the connections whose user blocked
its author, and rooms without such a connection are not checked at all."""

from __future__ import annotations

from typing import Any

from live.bus.memory import MemoryBus
from live.frames import Batch, Encoding
from live.rooms.hub import Hub


class Member:
    def __init__(self, user_id: str, blocked: frozenset[str] = frozenset()) -> None:
        self.user_id = user_id
        self.encoding = Encoding.JSON
        self.blocked = blocked
        self.got: list[int | None] = []

    def deliver(self, room: str | None, batch: Batch, origin: float) -> None:
        self.got.extend(batch.seqs)


def chat(seq: int, author: str) -> dict[str, Any]:
    return {"type": "chat.message", "room": "live:x", "epoch": "e", "seq": seq, "user": {"id": author}, "text": "t"}


def hub_with(*members: Member) -> Hub:
    hub = Hub(MemoryBus(), on_internal=lambda c, e: None, on_gap=lambda r: None)
    hub.rooms["live:x"] = set(members)
    for m in members:
        hub.set_blocked(m, m.blocked, ["live:x"])
    return hub


def test_only_the_blockers_of_the_author_skip_the_message() -> None:
    ana, cy, troll = Member("ana", frozenset({"troll"})), Member("cy"), Member("troll", frozenset({"ana"}))
    hub = hub_with(ana, cy, troll)
    assert hub.blockers["live:x"] == {ana, troll}
    delivered = hub.fanout("live:x", [chat(1, "troll"), chat(2, "cy"), chat(3, "ana"),
                                      {"type": "reactions", "room": "live:x", "counts": {"heart": 1}}])
    assert ana.got == [2, 3, None]  # not troll's
    assert troll.got == [1, 2, None]  # not ana's
    assert cy.got == [1, 2, 3, None]
    assert delivered == 10


def test_unblocking_and_leaving_drop_the_room_s_index() -> None:
    ana, cy = Member("ana", frozenset({"troll"})), Member("cy")
    hub = hub_with(ana, cy)
    hub.set_blocked(ana, frozenset(), ["live:x"])
    assert "live:x" not in hub.blockers
    hub.fanout("live:x", [chat(1, "troll")])
    assert ana.got == [1] and cy.got == [1]
    hub.set_blocked(ana, frozenset({"troll"}), ["live:x", "live:elsewhere"])  # only rooms it is in
    assert set(hub.blockers) == {"live:x"}
