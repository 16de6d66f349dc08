"""How room events cross nodes: the bus channel of a room and the payload encoding.

Every publisher of room events (chat, moderation, stage, announcements, live tab) goes through
these two functions, so the fan-out hub decodes one format. A payload is one event map or a list
of them, MessagePack-encoded; the hub decodes it once per node and encodes it once per wire
encoding before writing to every local connection in the room.
"""

from __future__ import annotations

from typing import Any, cast

import msgpack


def room_channel(room: str) -> str:
    """The bus channel of a room (`live:{lid}`, `group:{gid}`, `community:{cid}`)."""
    return "room." + room


def user_channel(user_id: str) -> str:
    """The bus channel of one user's connections on every node (notices, forced closes)."""
    return "user." + user_id


def encode_event(event: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    return cast(bytes, msgpack.packb(event, use_bin_type=True))  # msgpack is untyped


def decode_event(data: bytes) -> dict[str, Any] | list[dict[str, Any]]:
    return cast(dict[str, Any] | list[dict[str, Any]], msgpack.unpackb(data, raw=False))  # msgpack is untyped
