"""Blocking: one member keeps another's words away from them, and out of reach of their invitations.

What a blocked user writes (chat, posts, comments) is not delivered to or listed for the one who
blocked them, in history and in real time alike; neither can invite the other (community invites
and stage invites answer `blocked`). The blocked user is not told: nothing they can read says who
blocked them (their export leaves out other people's blocks, see `live.safety.models`).

These functions run inside the caller's session; after a change the HTTP handler emits the
`block.changed` event {blocker_id, blocked_id, blocked}, which the gateway carries to every node
so the blocker's open connections filter at once (`live.signaling.safety`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from live.communities.sql import insert_if_absent
from live.errors import ApiError, ErrorCode, invalid, not_found
from live.http import cursors
from live.safety.models import Block
from live.storage.base import iso, utcnow
from live.storage.models import User

EVENT = "block.changed"
# One person's blocks are held in memory by each of their connections: bound them.
MAX_BLOCKS = 10_000


def blocked_ids_query(user_id: str) -> Select[str]:
    """SELECT of the ids `user_id` has blocked (for `NOT IN` filters of lists)."""
    return select(Block.blocked_id).where(Block.blocker_id == user_id)


async def blocked_by(session: AsyncSession, user_id: str) -> frozenset[str]:
    """The ids `user_id` has blocked: whose words are kept from them."""
    rows = await session.execute(blocked_ids_query(user_id))
    return frozenset(r[0] for r in rows)


async def check_not_blocked(session: AsyncSession, user_a: str, user_b: str, what: str) -> None:
    """403 `blocked` when either of the two has blocked the other (invitations of any kind)."""
    if user_a == user_b:
        return
    found = await session.execute(
        select(Block.blocker_id).where(
            or_(
                and_(Block.blocker_id == user_a, Block.blocked_id == user_b),
                and_(Block.blocker_id == user_b, Block.blocked_id == user_a),
            )
        ).limit(1)
    )
    if found.first() is not None:
        raise ApiError(ErrorCode.BLOCKED, f"{what}: one of you has blocked the other")


def view(block: Block, name: str | None) -> dict[str, Any]:
    return {
        "user_id": block.blocked_id,
        "user": {"id": block.blocked_id, "name": name},
        "created_at": iso(block.created_at),
    }


async def block(session: AsyncSession, blocker_id: str, blocked_id: str) -> dict[str, Any]:
    """Block someone (idempotent: blocking again answers the existing block)."""
    if blocked_id == blocker_id:
        raise invalid({"user_id": "you cannot block yourself"})
    target = await session.get(User, blocked_id)
    if target is None:
        raise not_found("user")
    existing = await session.get(Block, (blocker_id, blocked_id))
    if existing is not None:
        return view(existing, target.name)
    count = (
        await session.execute(select(func.count()).select_from(Block).where(Block.blocker_id == blocker_id))
    ).scalar_one()
    if int(count) >= MAX_BLOCKS:
        raise ApiError(ErrorCode.CONFLICT, f"you have blocked {MAX_BLOCKS} people: unblock someone first")
    now = utcnow()
    await insert_if_absent(session, Block, {"blocker_id": blocker_id, "blocked_id": blocked_id, "created_at": now})
    return view(Block(blocker_id=blocker_id, blocked_id=blocked_id, created_at=now), target.name)


async def unblock(session: AsyncSession, blocker_id: str, blocked_id: str) -> bool:
    """Lift a block; True if there was one (unblocking twice is not an error)."""
    result = await session.execute(
        delete(Block)
        .where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
        .returning(Block.blocked_id)
    )
    return result.first() is not None


async def list_blocks(session: AsyncSession, blocker_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """The people `blocker_id` blocked, most recent first, `{items, next_cursor}`."""
    stmt = (
        select(Block, User.name)
        .outerjoin(User, User.id == Block.blocked_id)
        .where(Block.blocker_id == blocker_id)
    )
    key = cursors.decode(cursor, str, str)
    if key is not None:
        when, last = cursors.time_of(key[0]), key[1]
        stmt = stmt.where(
            or_(Block.created_at < when, and_(Block.created_at == when, Block.blocked_id < last))
        )
    rows = (
        await session.execute(stmt.order_by(Block.created_at.desc(), Block.blocked_id.desc()).limit(limit + 1))
    ).all()
    page = rows[:limit]
    nxt = None
    if len(rows) > limit:
        last_block = page[-1][0]
        nxt = cursors.encode(last_block.created_at.isoformat(), last_block.blocked_id)
    return {"items": [view(b, name) for b, name in page], "next_cursor": nxt}


NO_BLOCKS: frozenset[str] = frozenset()


def without_blocked(messages: list[dict[str, Any]], blocked: frozenset[str]) -> list[dict[str, Any]]:
    """`messages` (chat.message events) without those written by someone in `blocked`."""
    if not blocked:
        return messages
    return [m for m in messages if author_of(m) not in blocked]


def author_of(message: dict[str, Any]) -> str | None:
    """Who wrote a chat message event (its `user.id`)."""
    user = message.get("user")
    return user.get("id") if isinstance(user, dict) else None


def join_reply_without_blocked(data: dict[str, Any], blocked: frozenset[str]) -> dict[str, Any]:
    """A join reply without the history (and pinned message) written by people in `blocked`."""
    if not blocked:
        return data
    if data.get("history"):
        data = {**data, "history": without_blocked(list(data["history"]), blocked)}
    state = data.get("state")
    pinned = state.get("pinned") if isinstance(state, dict) else None
    # A pinned message is chat too.
    if isinstance(state, dict) and isinstance(pinned, dict) and author_of(pinned) in blocked:
        data = {**data, "state": {**state, "pinned": None}}
    return data
