"""HTTP: moderation actions and the member-visible moderation log."""

from __future__ import annotations

from typing import Any

from live.errors import ErrorCode, invalid
from live.http.api import Api, Ctx
from live.moderation import appeals, chat_settings, insights, reports
from live.moderation.models import ModerationAction
from live.moderation.schemas import (
    AppealCreate,
    AppealDecision,
    ChatSettingsBody,
    InsightsQuery,
    ModerationActionBody,
    ModerationPage,
    ModerationStatusPage,
    ReportCreate,
    ReportResolve,
    path_id,
)
from live.moderation.service import (
    EVENT,
    ActionRequest,
    event_payload,
    moderation_log,
    standing_sanctions,
    take_action,
    view,
)
from live.safety import suspensions
from live.services import Services
from live.storage.base import utcnow
from live.storage.models import User

api: Api[Services] = Api("moderation")


@api.post(
    "/v1/communities/{cid}/moderation",
    body=ModerationActionBody,
    status=201,
    errors=[ErrorCode.FORBIDDEN, ErrorCode.NOT_MEMBER, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT,
            ErrorCode.INVALID_REQUEST],
)
async def moderate(ctx: Ctx[Services, ModerationActionBody, None]) -> dict[str, Any]:
    """Mute, time out, ban, unban, unmute, kick, or delete content (moderators and up).

    Nobody acts on someone of equal or higher rank. Every action is told to the user it hits
    (`moderation.notice` over the WebSocket) and appears in the community's log.
    """
    body = ctx.body
    req = ActionRequest(
        action=body.action,
        user_id=body.user_id,
        target_type=body.target.type if body.target else None,
        target_id=body.target.id if body.target else None,
        duration_seconds=body.duration_seconds,
        reason=body.reason.strip(),
    )
    async with ctx.services.db.session() as session:
        record = await take_action(session, path_id(ctx, "cid"), ctx.user, req)
        user = await session.get(User, record.user_id) if record.user_id else None
        out = view(record, user_name=user.name if user else None, show_moderator=True)
    await _announce(ctx, record)
    return out


async def _announce(ctx: Ctx[Services, Any, Any], record: ModerationAction) -> None:
    """After the commit: tell whoever listens (this node's chat forgets the user's cached
    standing, the gateway enforces it on every node)."""
    await ctx.services.events.emit(EVENT, event_payload(record))


@api.get(
    "/v1/communities/{cid}/moderation/log",
    query=ModerationPage,
    errors=[ErrorCode.NOT_FOUND, ErrorCode.INVALID_REQUEST],
)
async def get_moderation_log(ctx: Ctx[Services, None, ModerationPage]) -> dict[str, Any]:
    """The community's moderation log, newest first (whoever may read the community).

    Entries name the moderator's role; the moderator's id is shown to moderators and up only.
    """
    async with ctx.services.db.session() as session:
        return await moderation_log(session, path_id(ctx, "cid"), ctx.user.id, ctx.query.cursor, ctx.query.limit)


@api.get(
    "/v1/communities/{cid}/moderation/sanctions",
    errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN],
)
async def sanctions_in_force(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Bans and mutes in force now, with when each ends (moderators and up)."""
    async with ctx.services.db.session() as session:
        return await standing_sanctions(session, path_id(ctx, "cid"), ctx.user.id)


@api.patch(
    "/v1/communities/{cid}/moderation/chat",
    body=ChatSettingsBody,
    errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.INVALID_REQUEST],
)
async def set_chat_settings(ctx: Ctx[Services, ChatSettingsBody, None]) -> dict[str, Any]:
    """Set slow mode and the keyword filter (moderators and up); each change appears in the log.

    Emits the `community.chat_settings` event {community_id, slow_mode_seconds, blocked_words}.
    """
    body = ctx.body
    async with ctx.services.db.session() as session:
        settings, entries = await chat_settings.update_chat_settings(
            session, path_id(ctx, "cid"), ctx.user.id, body.slow_mode_seconds, body.blocked_words, body.reason
        )
        out = {**settings, "log": [view(e, show_moderator=True) for e in entries]}
    if entries:
        await ctx.services.events.emit(chat_settings.EVENT, settings)
    return out


# -- reports -------------------------------------------------------------------------------------


def _status(query: ModerationStatusPage, allowed: tuple[str, ...], default: str | None) -> str | None:
    status = query.status or default
    if status == "all":
        return None
    if status not in allowed:
        raise invalid({"status": f"must be one of {', '.join((*allowed, 'all'))}"})
    return status


@api.post("/v1/communities/{cid}/reports", body=ReportCreate, status=201,
          errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.CONFLICT, ErrorCode.INVALID_REQUEST])
async def file_report(ctx: Ctx[Services, ReportCreate, None]) -> dict[str, Any]:
    """Report a post, comment, chat message or user to the community's moderators (members)."""
    async with ctx.services.db.session() as session:
        report = await reports.create(
            session, path_id(ctx, "cid"), ctx.user.id, ctx.body.target.type, ctx.body.target.id, ctx.body.reason
        )
        return reports.view(report, staff=False)


@api.get("/v1/communities/{cid}/reports", query=ModerationStatusPage,
         errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.INVALID_REQUEST])
async def list_reports(ctx: Ctx[Services, None, ModerationStatusPage]) -> dict[str, Any]:
    """The community's reports, newest first (moderators and up); `status=open` (default), `resolved`, `all`."""
    status = _status(ctx.query, reports.STATUSES, "open")
    async with ctx.services.db.session() as session:
        return await reports.list_for_staff(
            session, path_id(ctx, "cid"), ctx.user.id, status, ctx.query.cursor, ctx.query.limit
        )


@api.get("/v1/reports/{rid}", errors=[ErrorCode.NOT_FOUND])
async def get_report(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """One report, for the member who filed it or the community's moderators."""
    async with ctx.services.db.session() as session:
        return await reports.get(session, path_id(ctx, "rid"), ctx.user.id)


@api.post("/v1/reports/{rid}/resolve", body=ReportResolve,
          errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.CONFLICT])
async def resolve_report(ctx: Ctx[Services, ReportResolve, None]) -> dict[str, Any]:
    """Answer a report (moderators and up); the reporter reads the answer at /v1/me/reports."""
    async with ctx.services.db.session() as session:
        report = await reports.resolve(session, path_id(ctx, "rid"), ctx.user.id, ctx.body.resolution)
        out = reports.view(report, staff=True)
    await ctx.services.events.emit("report.resolved", dict(out))  # the reporter's notification
    return out


# -- appeals -------------------------------------------------------------------------------------


@api.post("/v1/moderation/{aid}/appeal", body=AppealCreate, status=201,
          errors=[ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.CONFLICT])
async def appeal_action(ctx: Ctx[Services, AppealCreate, None]) -> dict[str, Any]:
    """Appeal a moderation action that hit you (once per action); admins answer.

    A platform suspension is appealed here too (operators answer; `live.safety.suspensions`).
    """
    async with ctx.services.db.session() as session:
        platform = await suspensions.appeal(session, path_id(ctx, "aid"), ctx.user.id, ctx.body.text)
        if platform is not None:
            return platform
        item, action = await appeals.create(session, path_id(ctx, "aid"), ctx.user.id, ctx.body.text)
        return appeals.view(item, action, staff=False)


@api.get("/v1/communities/{cid}/appeals", query=ModerationStatusPage,
         errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.INVALID_REQUEST])
async def list_appeals(ctx: Ctx[Services, None, ModerationStatusPage]) -> dict[str, Any]:
    """The community's appeals, newest first (admins and up).

    `status`: `pending` (default), `upheld`, `overturned` or `all`.
    """
    status = _status(ctx.query, ("pending", *appeals.DECISIONS), "pending")
    async with ctx.services.db.session() as session:
        return await appeals.list_for_admins(
            session, path_id(ctx, "cid"), ctx.user.id, status, ctx.query.cursor, ctx.query.limit
        )


@api.post("/v1/appeals/{apid}/decide", body=AppealDecision,
          errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.CONFLICT])
async def decide_appeal(ctx: Ctx[Services, AppealDecision, None]) -> dict[str, Any]:
    """Uphold or overturn an appeal (admins and up). Overturning lifts the ban or mute it was about."""
    async with ctx.services.db.session() as session:
        item, action, lifting = await appeals.decide(
            session, path_id(ctx, "apid"), ctx.user.id, ctx.body.decision, ctx.body.response
        )
        out = appeals.view(item, action, staff=True)
    if lifting is not None:
        await _announce(ctx, lifting)
    await ctx.services.events.emit("appeal.decided", dict(out))  # the appellant's notification
    return out


# -- insights ------------------------------------------------------------------------------------


@api.get("/v1/communities/{cid}/insights", query=InsightsQuery,
         errors=[ErrorCode.NOT_FOUND, ErrorCode.NOT_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.INSIGHTS_UNAVAILABLE])
async def community_insights(ctx: Ctx[Services, None, InsightsQuery]) -> dict[str, Any]:
    """Per-day figures for admins of communities over `LIVE_INSIGHTS_MIN_MEMBERS` members."""
    async with ctx.services.db.session() as session:
        return await insights.insights(
            session,
            path_id(ctx, "cid"),
            ctx.user.id,
            ctx.query.days,
            ctx.services.settings.insights_min_members,
            utcnow().date(),
        )
