"""Following a public community without joining it: the live tab and notifications, no membership.

A follower is not a member: they cannot chat, post or vote, and they do not count in
`member_count`. They get the community's `live.started` and `live.scheduled` notifications and
its lives in their `GET /v1/live?scope=mine` tab. Only public communities can be followed (a
members-only one is not visible to outsiders; its members already hear about its lives); a user
banned from a community cannot follow it. A community that turns members-only keeps its
followers' rows, but they receive nothing from it until it is public again (the audience of a
notification is read when it is sent).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from live.communities import views
from live.communities.access import load_community, require_reader
from live.communities.models import Community, Membership
from live.communities.params import path_id
from live.communities.schemas import Page
from live.errors import ApiError, ErrorCode as E
from live.http import cursors
from live.http.api import Api, Ctx
from live.moderation.sanctions import check_not_banned
from live.services import Services
from live.storage.base import Base, UTCDateTime, iso, utcnow


class Follow(Base):
    """A user follows a community."""

    __tablename__ = "follows"

    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def follow_view(community: Community, role: str | None, followed_at: dt.datetime) -> dict[str, Any]:
    return {"community": views.community(community, role), "followed_at": iso(followed_at)}


async def follow(session: AsyncSession, community_id: str, user_id: str) -> dict[str, Any]:
    """Follow (idempotent): public communities only, not while banned from it."""
    community, member = await require_reader(session, community_id, user_id)
    if community.read_policy != "public":
        raise ApiError(E.FORBIDDEN, "only public communities can be followed; members already hear of its lives")
    await check_not_banned(session, community_id, user_id)
    row = await session.get(Follow, (community_id, user_id))
    if row is None:
        row = Follow(community_id=community_id, user_id=user_id, created_at=utcnow())
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a racing request followed first: same outcome
            row = await session.get(Follow, (community_id, user_id))
            assert row is not None
    return follow_view(community, member.role if member else None, row.created_at)


async def unfollow(session: AsyncSession, community_id: str, user_id: str) -> None:
    """Stop following (idempotent); 404 only for a community that does not exist."""
    await load_community(session, community_id)
    await session.execute(delete(Follow).where(Follow.community_id == community_id, Follow.user_id == user_id))


async def following(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """The communities `user_id` follows, newest follow first (deleted communities left out)."""
    stmt = (
        select(Follow, Community, Membership.role)
        .join(Community, Community.id == Follow.community_id)
        .outerjoin(Membership, (Membership.community_id == Follow.community_id) & (Membership.user_id == user_id))
        .where(Follow.user_id == user_id, Community.deleted_at.is_(None))
    )
    key = cursors.decode(cursor, str, str)
    if key is not None:
        at, cid = key
        stmt = stmt.where(
            (Follow.created_at < cursors.time_of(at))
            | ((Follow.created_at == cursors.time_of(at)) & (Follow.community_id < cid))
        )
    rows = (await session.execute(
        stmt.order_by(Follow.created_at.desc(), Follow.community_id.desc()).limit(limit + 1)
    )).all()
    page = rows[:limit]
    items = [follow_view(c, role, f.created_at) for f, c, role in page]
    last = page[-1][0] if len(rows) > limit else None
    return {"items": items, "next_cursor": cursors.encode(iso(last.created_at), last.community_id) if last else None}


async def is_following(session: AsyncSession, community_id: str, user_id: str) -> bool:
    return await session.get(Follow, (community_id, user_id)) is not None


# -- HTTP ----------------------------------------------------------------------------------------

api: Api[Services] = Api("communities")


@api.post("/v1/communities/{cid}/follow", errors=[E.NOT_FOUND, E.FORBIDDEN, E.BANNED])
async def follow_community(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Follow a public community without joining: its lives reach you (idempotent).

    Answers `{community, followed_at}`. Members-only communities cannot be followed (403
    `forbidden`, or 404 when not visible to you); a ban there refuses it (403 `banned`).
    """
    async with ctx.services.db.session() as session:
        return await follow(session, path_id(ctx, "cid", "community"), ctx.user.id)


@api.delete("/v1/communities/{cid}/follow", status=204, errors=[E.NOT_FOUND])
async def unfollow_community(ctx: Ctx[Services, None, None]) -> None:
    """Stop following a community (idempotent)."""
    async with ctx.services.db.session() as session:
        await unfollow(session, path_id(ctx, "cid", "community"), ctx.user.id)


@api.get("/v1/me/following", query=Page, errors=[E.INVALID_REQUEST])
async def my_following(ctx: Ctx[Services, None, Page]) -> dict[str, Any]:
    """The communities you follow, newest first: `{items: [{community, followed_at}], next_cursor}`."""
    async with ctx.services.db.session() as session:
        return await following(session, ctx.user.id, ctx.query.cursor, ctx.query.limit)
