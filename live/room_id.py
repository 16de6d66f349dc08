"""Room ids: `live:{id}`, `group:{id}`, `community:{id}`, parsed once at the edge.

A `RoomId` is made in two ways only: `RoomId.parse` where a room's name comes in as text (a
client's message, checked by the wire codec; a bus channel), and `RoomId.of` (or `live`,
`group`, `community`) from an id the server holds. Everything past that reads `kind` and
`ident` instead of splitting strings.

It is a `str`, its wire form, formatted once when made: a room id is a dict key on the fan-out
path (each delivery looks up its connection's seat by room), and a str subclass hashes as fast
as any string and goes into JSON and MessagePack as is.
"""

from __future__ import annotations

import enum

MAX_IDENT = 64  # every id the server issues is shorter


class RoomKind(str, enum.Enum):
    LIVE = "live"
    GROUP = "group"
    COMMUNITY = "community"


_KINDS = {kind.value: kind for kind in RoomKind}


class RoomId(str):
    """A room's id, with its `kind` and its `ident` (the live's, group's or community's id)."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> RoomId:
        """The room `text` names; ValueError (saying what is expected) if it names none."""
        if isinstance(text, RoomId):
            return text
        kind, sep, ident = text.partition(":")
        if not sep or kind not in _KINDS or not 1 <= len(ident) <= MAX_IDENT:
            raise ValueError("must be live:{id}, group:{id} or community:{id}")
        return str.__new__(cls, text)

    @classmethod
    def of(cls, kind: RoomKind, ident: str) -> RoomId:
        return str.__new__(cls, f"{kind.value}:{ident}")

    @classmethod
    def live(cls, lid: str) -> RoomId:
        return cls.of(RoomKind.LIVE, lid)

    @classmethod
    def group(cls, gid: str) -> RoomId:
        return cls.of(RoomKind.GROUP, gid)

    @classmethod
    def community(cls, cid: str) -> RoomId:
        return cls.of(RoomKind.COMMUNITY, cid)

    @property
    def kind(self) -> RoomKind:
        return _KINDS[self[: self.index(":")]]

    @property
    def ident(self) -> str:
        return self[self.index(":") + 1:]

    @property
    def has_chat(self) -> bool:
        """Live and group rooms have chat; community rooms carry the live tab and announcements."""
        return self.kind is not RoomKind.COMMUNITY
