"""Reports: a member flags something to the moderators; the moderators answer; the reporter sees it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.access import Role, require_member, require_role
from live.communities.models import Comment, Post
from live.errors import ApiError, ErrorCode, not_found
from live.moderation import messages, paging
from live.moderation.models import Report
from live.storage.base import iso, utcnow
from live.storage.ids import new_id
from live.storage.models import User

TARGET_TYPES = ("post", "comment", "message", "user")
STATUSES = ("open", "resolved")


async def create(
    session: AsyncSession, community_id: str, reporter_id: str, target_type: str, target_id: str, reason: str
) -> Report:
    """File a report (members). The same reporter has one open report per target at a time."""
    await require_member(session, community_id, reporter_id)
    await _check_target(session, community_id, target_type, target_id)
    duplicate = (
        await session.execute(
            select(Report.id).where(
                Report.community_id == community_id,
                Report.reporter_id == reporter_id,
                Report.target_type == target_type,
                Report.target_id == target_id,
                Report.status == "open",
            )
        )
    ).first()
    if duplicate is not None:
        raise ApiError(ErrorCode.CONFLICT, "you already reported this; the moderators will answer")
    report = Report(
        id=new_id(),
        community_id=community_id,
        reporter_id=reporter_id,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
        status="open",
        created_at=utcnow(),
    )
    session.add(report)
    return report


async def _check_target(session: AsyncSession, community_id: str, target_type: str, target_id: str) -> None:
    if target_type == "message":
        await messages.message_author(session, community_id, target_id)
    elif target_type == "post":
        post = await session.get(Post, target_id)
        if post is None or post.community_id != community_id or post.deleted_at is not None:
            raise not_found("post")
    elif target_type == "comment":
        comment = await session.get(Comment, target_id)
        post = await session.get(Post, comment.post_id) if comment is not None else None
        if comment is None or post is None or post.community_id != community_id or comment.deleted_at is not None:
            raise not_found("comment")
    elif target_type == "user" and await session.get(User, target_id) is None:
        raise not_found("user")


async def list_for_staff(
    session: AsyncSession, community_id: str, viewer_id: str, status: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The community's reports, newest first (moderators and up)."""
    await require_role(session, community_id, viewer_id, Role.MODERATOR)
    stmt = select(Report).where(Report.community_id == community_id)
    if status is not None:
        stmt = stmt.where(Report.status == status)
    return await _page(session, stmt, cursor, limit, staff=True)


async def list_mine(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """The caller's own reports with their answers, newest first."""
    stmt = select(Report).where(Report.reporter_id == user_id)
    return await _page(session, stmt, cursor, limit, staff=False)


async def _page(session: AsyncSession, stmt: Any, cursor: str | None, limit: int, *, staff: bool) -> dict[str, Any]:
    after = paging.decode(cursor)
    if after is not None:
        stmt = stmt.where(Report.id < after)
    rows = list((await session.execute(stmt.order_by(Report.id.desc()).limit(limit + 1))).scalars())
    page = rows[:limit]
    return {
        "items": [view(r, staff=staff) for r in page],
        "next_cursor": paging.encode(page[-1].id) if len(rows) > limit else None,
    }


async def get(session: AsyncSession, report_id: str, viewer_id: str) -> dict[str, Any]:
    """One report: for its reporter, or for the community's moderators."""
    report = await session.get(Report, report_id)
    if report is None:
        raise not_found("report")
    if report.reporter_id == viewer_id:
        return view(report, staff=False)
    try:
        await require_role(session, report.community_id, viewer_id, Role.MODERATOR)
    except ApiError:
        raise not_found("report") from None
    return view(report, staff=True)


async def resolve(session: AsyncSession, report_id: str, actor_id: str, resolution: str) -> Report:
    """Answer a report (moderators and up); the answer is what the reporter reads."""
    report = await session.get(Report, report_id)
    if report is None:
        raise not_found("report")
    await require_role(session, report.community_id, actor_id, Role.MODERATOR)
    if report.status != "open":
        raise ApiError(ErrorCode.CONFLICT, "this report has already been resolved")
    report.status = "resolved"
    report.resolution = resolution
    report.resolved_by = actor_id
    report.resolved_at = utcnow()
    return report


def view(r: Report, *, staff: bool) -> dict[str, Any]:
    """A report. Staff also see who filed it and who answered."""
    out: dict[str, Any] = {
        "id": r.id,
        "community_id": r.community_id,
        "target": {"type": r.target_type, "id": r.target_id},
        "reason": r.reason,
        "status": r.status,
        "resolution": r.resolution,
        "resolved_at": iso(r.resolved_at),
        "created_at": iso(r.created_at),
    }
    if staff:
        out["reporter_id"] = r.reporter_id
        out["resolved_by"] = r.resolved_by
    return out
