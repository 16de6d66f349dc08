"""HTTP: the signed-in user's usage time, their moderation record, export and erasure.

(`GET /v1/me` itself is a service endpoint in `live.system`.)
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from live.errors import ErrorCode
from live.http.api import Api, Ctx
from live.me import erase as erasure, usage
from live.me.export import export
from live.moderation import appeals, paging, reports
from live.moderation.models import Appeal, ModerationAction
from live.moderation.schemas import ModerationPage, UsageQuery
from live.moderation.service import view as action_view
from live.services import Services
from live.storage.base import iso

api: Api[Services] = Api("me")
log = logging.getLogger("live.me")


@api.get("/v1/me/usage", query=UsageQuery, errors=[ErrorCode.INVALID_REQUEST])
async def my_usage(ctx: Ctx[Services, None, UsageQuery]) -> dict[str, Any]:
    """Your time watching and hosting, and messages sent, per day of your time zone (live.me.usage).

    `{days: [{date, watching_seconds, hosting_seconds, messages_sent}], today, daily_limit_minutes,
    timezone, totals}`, oldest day first.
    """
    async with ctx.services.db.session() as session:
        return await usage.usage(session, ctx.user.id, ctx.query.days, ctx.services.clock.now())


@api.get("/v1/me/moderation", query=ModerationPage, errors=[ErrorCode.INVALID_REQUEST])
async def my_moderation(ctx: Ctx[Services, None, ModerationPage]) -> dict[str, Any]:
    """Moderation actions that concern you, newest first, each with its appeal (if any)."""
    stmt = (
        select(ModerationAction, Appeal)
        .outerjoin(Appeal, Appeal.action_id == ModerationAction.id)
        .where(ModerationAction.user_id == ctx.user.id)
    )
    after = paging.decode(ctx.query.cursor)
    if after is not None:
        stmt = stmt.where(ModerationAction.id < after)
    limit = ctx.query.limit
    async with ctx.services.db.session() as session:
        rows = (await session.execute(stmt.order_by(ModerationAction.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    items = []
    for action, appeal in page:
        item = action_view(action, show_moderator=False)
        item["appeal"] = None if appeal is None else {
            "id": appeal.id, "status": appeal.status, "response": appeal.response,
            "created_at": iso(appeal.created_at), "decided_at": iso(appeal.decided_at),
        }
        items.append(item)
    return {"items": items, "next_cursor": paging.encode(page[-1][0].id) if len(rows) > limit else None}


@api.get("/v1/me/reports", query=ModerationPage, errors=[ErrorCode.INVALID_REQUEST])
async def my_reports(ctx: Ctx[Services, None, ModerationPage]) -> dict[str, Any]:
    """Reports you filed, newest first, with the moderators' answers."""
    async with ctx.services.db.session() as session:
        return await reports.list_mine(session, ctx.user.id, ctx.query.cursor, ctx.query.limit)


@api.get("/v1/me/appeals", query=ModerationPage, errors=[ErrorCode.INVALID_REQUEST])
async def my_appeals(ctx: Ctx[Services, None, ModerationPage]) -> dict[str, Any]:
    """Your appeals, newest first, with the admins' answers."""
    async with ctx.services.db.session() as session:
        return await appeals.list_mine(session, ctx.user.id, ctx.query.cursor, ctx.query.limit)


@api.get("/v1/me/export")
async def export_me(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """All your data as one JSON document: profile, and every row of every table that names you."""
    async with ctx.services.db.session() as session:
        return await export(session, ctx.user.id)


@api.delete("/v1/me", status=204, errors=[ErrorCode.CONFLICT])
async def erase_me(ctx: Ctx[Services, None, None]) -> None:
    """Erase your account. Owners hand over or delete their communities first (409 `conflict`)."""
    async with ctx.services.db.session() as session:
        await erasure.erase(session, ctx.user.id)
    ctx.services.users.forget(ctx.user.id)
    try:
        await erasure.scrub_disk(ctx.services.db)
    except Exception:  # the account is erased; the disk catches up at the next checkpoint
        log.exception("erasure: checkpointing the write-ahead log failed")
    # After the commit: e.g. uploaded images' files go now (live.uploads).
    await ctx.services.events.emit("account.erased", {"user_id": ctx.user.id})
