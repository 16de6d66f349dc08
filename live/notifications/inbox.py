"""The inbox: a user's notifications newest first, what is unread, marking read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.http import cursors
from live.notifications.models import Notification
from live.storage.base import iso


def view(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "created_at": iso(row.created_at),
        "read": row.read_at is not None,
        "community_id": row.community_id,
        "live_id": row.live_id,
        "actor": {"id": row.actor_id, "name": row.actor_name} if row.actor_id else None,
        "title": row.title,
        "body": row.body,
        "url": row.url,
    }


async def unread_count(session: AsyncSession, user_id: str) -> int:
    stmt = select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return int((await session.execute(stmt)).scalar_one())


async def page(session: AsyncSession, user_id: str, cursor: str | None, unread: bool, limit: int) -> dict[str, Any]:
    """`{items, next_cursor, unread_count}`: newest first, `unread` only when asked."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    key = cursors.decode(cursor, str)
    if key is not None:
        stmt = stmt.where(Notification.id < key[0])
    rows = list((await session.execute(stmt.order_by(Notification.id.desc()).limit(limit + 1))).scalars())
    items = rows[:limit]
    return {
        "items": [view(r) for r in items],
        "next_cursor": cursors.encode(items[-1].id) if len(rows) > limit else None,
        "unread_count": await unread_count(session, user_id),
    }


async def mark_read(session: AsyncSession, user_id: str, ids: list[str] | None, every: bool, now: dt.datetime) -> int:
    """Mark `ids` (or all) read; the unread count after. Unknown ids are ignored (idempotent)."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if not every:
        stmt = stmt.where(Notification.id.in_(ids or []))
    if every or ids:
        await session.execute(stmt.values(read_at=now))
    return await unread_count(session, user_id)
