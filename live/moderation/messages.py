"""Chat messages as moderation sees them: whose is it, and is it in this community?

Chat messages belong to the chat domain; moderation only needs to find one by id to know whom a
deletion or a report concerns (so the author is told). The table is looked up in the schema
rather than imported, so moderation works the same in a build without chat.
"""

from __future__ import annotations

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.models import Group
from live.errors import not_found
from live.room_id import RoomId
from live.storage.all_models import metadata


def _table(name: str, *columns: str) -> Table | None:
    table = metadata.tables.get(name)
    if table is None or not set(columns) <= set(table.c.keys()):
        return None
    return table


async def room_community(session: AsyncSession, room: str) -> str | None:
    """The community a room (`live:{lid}`, `group:{gid}`, `community:{cid}`) belongs to."""
    try:
        parsed = RoomId.parse(room)
    except ValueError:
        return None
    kind, ident = parsed.kind.value, parsed.ident
    if kind == "community":
        return ident
    if kind == "group":
        group = await session.get(Group, ident)
        return group.community_id if group is not None else None
    lives = _table("lives", "id", "community_id")
    if kind == "live" and lives is not None:
        row = (await session.execute(select(lives.c.community_id).where(lives.c.id == ident))).first()
        return row[0] if row is not None else None
    return None


async def message_author(session: AsyncSession, community_id: str, message_id: str) -> str | None:
    """The author of a chat message of this community (404 when there is no such message).

    None when this build has no chat table (the id is then taken as given).
    """
    messages = _table("chat_messages", "id", "room", "user_id")
    if messages is None:
        return None
    stmt = select(messages.c.room, messages.c.user_id).where(messages.c.id == message_id)
    if "deleted_at" in messages.c:
        stmt = stmt.where(messages.c.deleted_at.is_(None))
    row = (await session.execute(stmt)).first()
    if row is None or await room_community(session, row[0]) != community_id:
        raise not_found("message")
    return str(row[1])
