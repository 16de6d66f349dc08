"""Insights for the admins of larger communities: growth, activity, live time and moderation.

Only communities with more than `LIVE_INSIGHTS_MIN_MEMBERS` members get them: below that,
daily figures would point at individual people. Counts are grouped by UTC day in SQL (the
day expression differs between SQLite and PostgreSQL, and only that differs).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.access import Role, require_role
from live.communities.models import Comment, Membership, Post, PostLike
from live.errors import ApiError, ErrorCode
from live.me import usage
from live.moderation.models import ModerationAction, Report
from live.storage.base import Base

SERIES = (
    "members_joined", "posts", "comments", "likes", "lives", "watch_seconds", "hosting_seconds",
    "active_members", "moderation_actions", "reports",
)


def day_of(session: AsyncSession, column: Any) -> ColumnElement[str]:
    """'YYYY-MM-DD' (UTC) of a timestamp column, in this session's SQL dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _window(today: dt.date, days: int) -> tuple[list[str], dt.datetime]:
    span = [d.isoformat() for d in usage.day_range(days, today)]
    start = dt.datetime.combine(dt.date.fromisoformat(span[0]), dt.time(), dt.UTC)
    return span, start


async def insights(
    session: AsyncSession, community_id: str, viewer_id: str, days: int, min_members: int, today: dt.date
) -> dict[str, Any]:
    """The community's figures per day for the last `days` days (admins and up)."""
    community, _member = await require_role(session, community_id, viewer_id, Role.ADMIN)
    if community.member_count <= min_members:
        raise ApiError(
            ErrorCode.INSIGHTS_UNAVAILABLE,
            f"insights are available once a community has more than {min_members} members "
            f"(this one has {community.member_count})",
        )
    span, start = _window(today, days)
    series: dict[str, dict[str, int]] = {name: defaultdict(int) for name in SERIES}

    async def count_by_day(name: str, ts: Any, *where: Any, joins: tuple[Any, ...] = ()) -> None:
        day = day_of(session, ts)
        stmt = select(day, func.count()).select_from(ts.table)
        for target, on in joins:
            stmt = stmt.join(target, on)
        rows = await session.execute(stmt.where(ts >= start, *where).group_by(day))
        for d, n in rows:
            series[name][d] = int(n)

    await count_by_day("members_joined", Membership.joined_at, Membership.community_id == community_id)
    await count_by_day("posts", Post.created_at, Post.community_id == community_id)
    await count_by_day(
        "comments", Comment.created_at, Post.community_id == community_id, joins=((Post, Post.id == Comment.post_id),)
    )
    await count_by_day(
        "likes", PostLike.created_at, Post.community_id == community_id, joins=((Post, Post.id == PostLike.post_id),)
    )
    await count_by_day(
        "moderation_actions", ModerationAction.created_at, ModerationAction.community_id == community_id
    )
    await count_by_day("reports", Report.created_at, Report.community_id == community_id)
    lives = _lives_table()
    if lives is not None:
        await count_by_day("lives", lives.c.started_at, lives.c.community_id == community_id)

    # Watching and hosting: the usage minutes recorded from real sessions (live.me.usage).
    for d, kind, total in await usage.community_seconds(session, community_id, span[0]):
        if kind in ("watching", "hosting"):
            series["watch_seconds" if kind == "watching" else "hosting_seconds"][d] = total

    active_by_day, active_total = await _active_members(session, community_id, start, span[0])
    series["active_members"] = {d: len(users) for d, users in active_by_day.items()}

    by_action = await session.execute(
        select(ModerationAction.action, func.count())
        .where(ModerationAction.community_id == community_id, ModerationAction.created_at >= start)
        .group_by(ModerationAction.action)
    )
    items = [{"date": d, **{name: series[name].get(d, 0) for name in SERIES}} for d in span]
    totals: dict[str, Any] = {name: sum(item[name] for item in items) for name in SERIES}
    totals["active_members"] = active_total
    totals["moderation_by_action"] = {action: int(n) for action, n in by_action}
    return {
        "community_id": community_id,
        "member_count": community.member_count,
        "days": days,
        "from": span[0],
        "to": span[-1],
        "items": items,
        "totals": totals,
    }


def _lives_table() -> Table | None:
    """The live sessions' table, when the live tab is part of this build (it has its own domain)."""
    table = Base.metadata.tables.get("lives")
    if table is None or not {"community_id", "started_at"} <= set(table.c.keys()):
        return None
    return table


async def _active_members(
    session: AsyncSession, community_id: str, start: dt.datetime, first_day: str
) -> tuple[dict[str, set[str]], int]:
    """Who did anything (posted, commented, liked, watched, hosted, chatted) on each day."""
    sources = [
        select(day_of(session, Post.created_at), Post.author_id)
        .where(Post.community_id == community_id, Post.created_at >= start),
        select(day_of(session, Comment.created_at), Comment.author_id)
        .join(Post, Post.id == Comment.post_id)
        .where(Post.community_id == community_id, Comment.created_at >= start),
        select(day_of(session, PostLike.created_at), PostLike.user_id)
        .join(Post, Post.id == PostLike.post_id)
        .where(Post.community_id == community_id, PostLike.created_at >= start),
    ]
    by_day: dict[str, set[str]] = defaultdict(set)
    everyone: set[str] = set()
    for stmt in sources:
        for day, user in await session.execute(stmt.distinct()):
            by_day[day].add(user)
            everyone.add(user)
    for day, user in await usage.community_users(session, community_id, first_day):
        by_day[day].add(user)
        everyone.add(user)
    return by_day, len(everyone)

