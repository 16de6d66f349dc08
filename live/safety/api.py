"""HTTP: blocking, account reports, and the platform operators' endpoints (suspensions, appeals).

The component also registers the suspension guard on every write (`live.safety.guard`).
After a commit, handlers emit domain events that the gateway and other parts act on:

- `block.changed` {blocker_id, blocked_id, blocked}: every node re-reads the blocker's blocks;
- `platform.action` (a suspension or its lifting, as `suspensions.notice`): every node tells the
  user's connections (`moderation.notice`, `scope: "platform"`) and, for a suspension, closes
  them with 4003;
- `moderation.notice` {user_id, scope: "platform", community_id: null, action, action_id, reason,
  until, created_at}: for whoever keeps a user's notifications;
- `access.revoked` {user_id, reason: "suspended", recheck: false}: out of every room, media stops.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import Field

from live.errors import ErrorCode as E, invalid
from live.events import revoke_access
from live.http.api import Api, Ctx
from live.http.schemas import Body
from live.moderation.schemas import LongText, ModerationPage, Reason, path_id
from live.safety import blocks, operators, reports, suspensions
from live.safety.models import PlatformAction
from live.services import Services

log = logging.getLogger("live.safety")

api: Api[Services] = Api("safety")

UserId = Annotated[str, Field(min_length=1, max_length=64)]


class BlockCreate(Body):
    user_id: UserId


class AccountTarget(Body):
    type: Literal["user"]
    id: UserId


class AccountReportCreate(Body):
    target: AccountTarget
    reason: Reason


class SuspendBody(Body):
    reason: Reason = Field(description="told to the user and kept in the platform log")
    duration_seconds: int | None = Field(None, ge=1, le=10 * 365 * 86400, description="none: until lifted")


class UnsuspendBody(Body):
    reason: Annotated[str, Field(max_length=1000)] = ""


class ResolveBody(Body):
    resolution: LongText = Field(description="what the reporter is told")


class DecideBody(Body):
    decision: Literal["upheld", "overturned"]
    response: LongText = Field(description="what the user is told")


class StatusPage(ModerationPage):
    status: str | None = Field(None, max_length=16)


class LogPage(ModerationPage):
    user_id: UserId | None = None


def _status(query: StatusPage, allowed: tuple[str, ...], default: str) -> str | None:
    status = query.status or default
    if status == "all":
        return None
    if status not in allowed:
        raise invalid({"status": f"must be one of {', '.join((*allowed, 'all'))}"})
    return status


OPERATOR = [E.FORBIDDEN]


# -- blocks -------------------------------------------------------------------------------------


@api.post("/v1/me/blocks", body=BlockCreate, status=201, errors=[E.NOT_FOUND, E.INVALID_REQUEST, E.CONFLICT])
async def block_user(ctx: Ctx[Services, BlockCreate, None]) -> dict[str, Any]:
    """Block someone: their chat, posts and comments are no longer shown to you; neither of you
    can invite the other. They are not told. Blocking again answers the same block."""
    async with ctx.services.db.session() as session:
        out = await blocks.block(session, ctx.user.id, ctx.body.user_id)
    await ctx.services.events.emit(
        blocks.EVENT, {"blocker_id": ctx.user.id, "blocked_id": ctx.body.user_id, "blocked": True}
    )
    return out


@api.delete("/v1/me/blocks/{uid}", status=204, errors=[])
async def unblock_user(ctx: Ctx[Services, None, None]) -> None:
    """Unblock someone (unblocking someone not blocked changes nothing)."""
    uid = path_id(ctx, "uid", "user")
    async with ctx.services.db.session() as session:
        changed = await blocks.unblock(session, ctx.user.id, uid)
    if changed:
        await ctx.services.events.emit(blocks.EVENT, {"blocker_id": ctx.user.id, "blocked_id": uid, "blocked": False})


@api.get("/v1/me/blocks", query=ModerationPage, errors=[E.INVALID_REQUEST])
async def list_blocks(ctx: Ctx[Services, None, ModerationPage]) -> dict[str, Any]:
    """The people you blocked, most recent first."""
    async with ctx.services.db.session() as session:
        return await blocks.list_blocks(session, ctx.user.id, ctx.query.cursor, ctx.query.limit)


# -- account reports ----------------------------------------------------------------------------


@api.post("/v1/reports", body=AccountReportCreate, status=201,
          errors=[E.NOT_FOUND, E.INVALID_REQUEST, E.CONFLICT, E.RATE_LIMITED])
async def report_account(ctx: Ctx[Services, AccountReportCreate, None]) -> dict[str, Any]:
    """Report an account to the platform's operators (anyone signed in)."""
    async with ctx.services.db.session() as session:
        item = await reports.create(session, ctx.user.id, ctx.body.target.type, ctx.body.target.id, ctx.body.reason)
        out = reports.view(item, staff=False)
    log.info("account report %s by %s about %s", out["id"], ctx.user.id, ctx.body.target.id)
    return out


@api.get("/v1/me/account-reports", query=ModerationPage, errors=[E.INVALID_REQUEST])
async def my_account_reports(ctx: Ctx[Services, None, ModerationPage]) -> dict[str, Any]:
    """Account reports you filed, newest first, with the operators' answers."""
    async with ctx.services.db.session() as session:
        return await reports.list_mine(session, ctx.user.id, ctx.query.cursor, ctx.query.limit)


@api.get("/v1/admin/reports", query=StatusPage, errors=[*OPERATOR, E.INVALID_REQUEST])
async def list_account_reports(ctx: Ctx[Services, None, StatusPage]) -> dict[str, Any]:
    """Account reports newest first (operators); `status=open` (default), `resolved` or `all`."""
    status = _status(ctx.query, reports.STATUSES, "open")
    async with ctx.services.db.session() as session:
        return await reports.list_for_operators(
            session, ctx.services.settings, ctx.user.id, status, ctx.query.cursor, ctx.query.limit
        )


@api.post("/v1/admin/reports/{rid}/resolve", body=ResolveBody, errors=[*OPERATOR, E.NOT_FOUND, E.CONFLICT])
async def resolve_account_report(ctx: Ctx[Services, ResolveBody, None]) -> dict[str, Any]:
    """Answer an account report (operators); the reporter reads it at /v1/me/account-reports."""
    async with ctx.services.db.session() as session:
        item = await reports.resolve(
            session, ctx.services.settings, path_id(ctx, "rid", "report"), ctx.user.id, ctx.body.resolution
        )
        return reports.view(item, staff=True)


# -- suspensions --------------------------------------------------------------------------------


@api.post("/v1/admin/users/{uid}/suspend", body=SuspendBody, status=201,
          errors=[*OPERATOR, E.NOT_FOUND, E.INVALID_REQUEST])
async def suspend_account(ctx: Ctx[Services, SuspendBody, None]) -> dict[str, Any]:
    """Suspend an account platform-wide (operators): every write refused with `suspended` until
    it ends; the user is told and their connections close (4003). Logged and appealable."""
    uid = path_id(ctx, "uid", "user")
    async with ctx.services.db.session() as session:
        outcome = await suspensions.suspend(
            session, ctx.services.settings, ctx.user.id, uid, ctx.body.reason.strip(), ctx.body.duration_seconds
        )
        out = suspensions.view(outcome.action, user_name=outcome.user_name, show_operator=True)
    await announce(ctx.services, outcome.action)
    return out


@api.post("/v1/admin/users/{uid}/unsuspend", body=UnsuspendBody, status=201,
          errors=[*OPERATOR, E.NOT_FOUND, E.CONFLICT])
async def unsuspend_account(ctx: Ctx[Services, UnsuspendBody, None]) -> dict[str, Any]:
    """Lift a suspension in force (operators); 409 `conflict` when there is none."""
    uid = path_id(ctx, "uid", "user")
    async with ctx.services.db.session() as session:
        outcome = await suspensions.unsuspend(
            session, ctx.services.settings, ctx.user.id, uid, ctx.body.reason.strip() or "suspension lifted"
        )
        out = suspensions.view(outcome.action, user_name=outcome.user_name, show_operator=True)
    await announce(ctx.services, outcome.action)
    return out


@api.get("/v1/admin/log", query=LogPage, errors=[*OPERATOR, E.INVALID_REQUEST])
async def platform_log(ctx: Ctx[Services, None, LogPage]) -> dict[str, Any]:
    """Suspensions and their liftings, newest first (operators), optionally about one `user_id`."""
    async with ctx.services.db.session() as session:
        return await suspensions.log(
            session, ctx.services.settings, ctx.user.id, ctx.query.user_id, ctx.query.cursor, ctx.query.limit
        )


@api.get("/v1/admin/appeals", query=StatusPage, errors=[*OPERATOR, E.INVALID_REQUEST])
async def list_platform_appeals(ctx: Ctx[Services, None, StatusPage]) -> dict[str, Any]:
    """Appeals against suspensions, newest first (operators); `status=pending` (default),
    `upheld`, `overturned` or `all`."""
    status = _status(ctx.query, ("pending", *suspensions.DECISIONS), "pending")
    async with ctx.services.db.session() as session:
        return await suspensions.appeals(
            session, ctx.services.settings, ctx.user.id, status, ctx.query.cursor, ctx.query.limit
        )


@api.post("/v1/admin/appeals/{apid}/decide", body=DecideBody, errors=[*OPERATOR, E.NOT_FOUND, E.CONFLICT])
async def decide_platform_appeal(ctx: Ctx[Services, DecideBody, None]) -> dict[str, Any]:
    """Uphold or overturn an appeal against a suspension (operators); overturning lifts it."""
    async with ctx.services.db.session() as session:
        out, lifting = await suspensions.decide(
            session, ctx.services.settings, path_id(ctx, "apid", "appeal"), ctx.user.id,
            ctx.body.decision, ctx.body.response,
        )
    if lifting is not None:
        await announce(ctx.services, lifting)
    await ctx.services.events.emit("appeal.decided", {"user_id": out["user_id"], "appeal": out})
    return out


@api.get("/v1/admin/operators", errors=OPERATOR)
async def list_operators(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Every platform operator and where the right comes from (`setting` or `database`)."""
    async with ctx.services.db.session() as session:
        await operators.require_operator(session, ctx.services.settings, ctx.user.id)
        return {"items": await operators.listing(session, ctx.services.settings)}


@api.get("/v1/me/account")
async def my_account(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Whether you are a platform operator, and your suspension if one is in force (with its
    `action_id` to appeal and the appeal's answer)."""
    async with ctx.services.db.session() as session:
        return await suspensions.account_status(session, ctx.services.settings, ctx.user.id)


# -- after the commit ---------------------------------------------------------------------------


async def announce(services: Services, action: PlatformAction) -> None:
    """Tell every node, the user and their notifications; a suspension also takes them out of
    every room (media stops), ends the live they host and takes them off every stage."""
    payload = suspensions.notice(action)
    log.info("platform %s of %s by %s (action %s): %s", action.action, action.user_id, action.moderator_id,
             action.id, action.reason)
    # The notice first (every node), then the rooms: the user hears why before anything closes.
    await services.events.emit("platform.action", payload)
    if action.action == suspensions.SUSPEND:
        await revoke_access(services.events, user_id=action.user_id, reason="suspended", recheck=False)
    # Then (the live service hears this) their lives end and they leave every stage.
    await services.events.emit("moderation.notice", payload)
