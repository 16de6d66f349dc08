"""Account reports: anyone signed in tells the platform's operators about an account.

Community reports (`live.moderation.reports`) go to one community's moderators and reach only
what happens there; an account that harasses people across communities is the operators'. The
reporter reads the answer with `GET /v1/me/account-reports`; the reported account never learns
who reported it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from live.config import Settings
from live.errors import ApiError, ErrorCode, invalid, not_found
from live.moderation import paging
from live.safety import operators
from live.safety.models import AccountReport
from live.storage.base import iso, utcnow
from live.storage.ids import new_id
from live.storage.models import User

STATUSES = ("open", "resolved")
# Open reports one person may have at a time: enough for anyone harassed by many, not a flood.
MAX_OPEN_PER_REPORTER = 50


async def create(
    session: AsyncSession, reporter_id: str, target_type: str, target_id: str, reason: str
) -> AccountReport:
    """File a report about an account; one open report per reporter and account."""
    if target_type != "user":
        raise invalid({"target.type": "platform reports are about accounts: type \"user\""})
    if target_id == reporter_id:
        raise invalid({"target.id": "you cannot report yourself"})
    if await session.get(User, target_id) is None:
        raise not_found("user")
    mine = (
        await session.execute(
            select(AccountReport.target_id).where(
                AccountReport.reporter_id == reporter_id, AccountReport.status == "open"
            )
        )
    ).scalars().all()
    if target_id in mine:
        raise ApiError(ErrorCode.CONFLICT, "you already reported this account; the operators will answer")
    if len(mine) >= MAX_OPEN_PER_REPORTER:
        raise ApiError(ErrorCode.RATE_LIMITED, "you have too many open reports; wait for answers",
                       retry_after=3600.0)
    report = AccountReport(
        id=new_id(), reporter_id=reporter_id, target_type="user", target_id=target_id, reason=reason,
        status="open", created_at=utcnow(),
    )
    session.add(report)
    return report


async def list_for_operators(
    session: AsyncSession, settings: Settings, viewer_id: str, status: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Account reports newest first (operators), with the reported account's name."""
    await operators.require_operator(session, settings, viewer_id)
    stmt = select(AccountReport, User.name).outerjoin(User, User.id == AccountReport.target_id)
    if status is not None:
        stmt = stmt.where(AccountReport.status == status)
    after = paging.decode(cursor)
    if after is not None:
        stmt = stmt.where(AccountReport.id < after)
    rows = (await session.execute(stmt.order_by(AccountReport.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return {
        "items": [view(r, staff=True, target_name=name) for r, name in page],
        "next_cursor": paging.encode(page[-1][0].id) if len(rows) > limit else None,
    }


async def list_mine(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    stmt = select(AccountReport).where(AccountReport.reporter_id == user_id)
    after = paging.decode(cursor)
    if after is not None:
        stmt = stmt.where(AccountReport.id < after)
    rows = list((await session.execute(stmt.order_by(AccountReport.id.desc()).limit(limit + 1))).scalars())
    page = rows[:limit]
    return {
        "items": [view(r, staff=False) for r in page],
        "next_cursor": paging.encode(page[-1].id) if len(rows) > limit else None,
    }


async def resolve(
    session: AsyncSession, settings: Settings, report_id: str, operator_id: str, resolution: str
) -> AccountReport:
    """Answer a report (operators); the answer is what the reporter reads."""
    await operators.require_operator(session, settings, operator_id)
    report = await session.get(AccountReport, report_id, with_for_update=True)
    if report is None:
        raise not_found("report")
    if report.status != "open":
        raise ApiError(ErrorCode.CONFLICT, "this report has already been resolved")
    report.status = "resolved"
    report.resolution = resolution
    report.resolved_by = operator_id
    report.resolved_at = utcnow()
    return report


def view(r: AccountReport, *, staff: bool, target_name: str | None = None) -> dict[str, Any]:
    """A report; operators also see who filed it and who answered."""
    out: dict[str, Any] = {
        "id": r.id,
        "scope": "platform",
        "community_id": None,
        "target": {"type": r.target_type, "id": r.target_id},
        "reason": r.reason,
        "status": r.status,
        "resolution": r.resolution,
        "resolved_at": iso(r.resolved_at),
        "created_at": iso(r.created_at),
    }
    if staff:
        out["target_name"] = target_name
        out["reporter_id"] = r.reporter_id
        out["resolved_by"] = r.resolved_by
    return out
