"""A live's pinned chat message: pinning and unpinning, what joiners see, and a deleted message
unpinned.

`PUT /v1/live/{lid}/pin` (the host, or moderators and up) publishes `chat.pinned {room, message}`
to the live's room; a join's `state.pinned` carries it; a message deleted while pinned is
unpinned (`chat.message_deleted`, emitted by the chat service after its commit).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from live.auth.tokens import Principal
from live.bus import Bus
from live.chat import store as chat_store
from live.chat.models import ChatMessage, ChatRoom
from live.communities.access import Role, require_reader, role_of
from live.errors import ApiError, ErrorCode, not_found
from live.lives.models import LIVE, Live
from live.room_id import RoomId, RoomKind
from live.rooms.channels import encode_event, room_channel
from live.storage.db import Database


class Pins:
    """Pinned messages of lives."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self.db = db
        self.bus = bus

    async def pinned_event(self, session: AsyncSession, live: Live) -> dict[str, Any] | None:
        if live.pinned_seq is None:
            return None
        room = RoomId.live(live.id)
        msg = await session.get(ChatMessage, (room, live.pinned_seq))
        if msg is None or msg.deleted_at is not None:
            return None
        chat_room = await session.get(ChatRoom, room)
        return chat_store.event_of(msg, chat_room.epoch if chat_room is not None else "")

    async def pin(self, lid: str, actor: Principal, seq: int | None) -> dict[str, Any] | None:
        """Pin a chat message of the live (`seq`) or unpin (None): the host, or moderators and up.

        Publishes `chat.pinned` {room, message: chat.message | null} to the room; returns it.
        """
        async with self.db.session() as session:
            live = await session.get(Live, lid, with_for_update=True)
            if live is None:
                raise not_found("live")
            _, member = await require_reader(session, live.community_id, actor.id)
            role = role_of(member)
            if actor.id != live.host_id and (role is None or not role.at_least(Role.MODERATOR)):
                raise ApiError(ErrorCode.FORBIDDEN, "only the host or a moderator pins messages")
            if live.status != LIVE:
                raise ApiError(ErrorCode.CONFLICT, "this live has ended")
            live.pinned_seq = seq
            pinned = await self.pinned_event(session, live)
            if seq is not None and pinned is None:
                raise not_found("message")
            await self._publish(lid, pinned)
        return pinned

    async def _publish(self, lid: str, pinned: dict[str, Any] | None) -> None:
        room = RoomId.live(lid)
        await self.bus.publish(
            room_channel(room), encode_event({"type": "chat.pinned", "room": room, "message": pinned})
        )

    async def on_chat_deleted(self, payload: dict[str, Any]) -> None:
        """A deleted message cannot stay pinned."""
        try:
            room = RoomId.parse(str(payload.get("room", "")))
        except ValueError:
            return
        if room.kind is not RoomKind.LIVE:
            return
        lid = room.ident
        async with self.db.session() as session:
            live = await session.get(Live, lid, with_for_update=True)
            if live is None or live.pinned_seq is None or live.pinned_seq != payload.get("seq"):
                return
            live.pinned_seq = None
            await self._publish(lid, None)
