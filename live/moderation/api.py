"""HTTP: moderation actions and the member-visible moderation log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from live.errors import ErrorCode
from live.http.api import Api, Ctx
from live.moderation import paging, rules
from live.moderation.service import EVENT, ActionRequest, event_payload, moderation_log, take_action, view

api = Api("moderation")


class Target(BaseModel):
    type: Literal["post", "comment", "message"]
    id: str = Field(min_length=1, max_length=64)


class ActionBody(BaseModel):
    action: str = Field(max_length=16, description=f"one of {', '.join(rules.ACTIONS)}")
    user_id: str | None = Field(None, min_length=1, max_length=64)
    target: Target | None = None
    duration_seconds: int | None = Field(None, ge=1, le=rules.MAX_DURATION_SECONDS)
    reason: str = Field(min_length=1, max_length=1000, description="told to the user and shown in the log")


@api.post(
    "/v1/communities/{cid}/moderation",
    body=ActionBody,
    status=201,
    errors=[ErrorCode.FORBIDDEN, ErrorCode.NOT_MEMBER, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT,
            ErrorCode.INVALID_REQUEST],
)
async def act(ctx: Ctx[ActionBody, None]) -> dict[str, Any]:
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
        reason=body.reason.strip() or body.reason,
    )
    async with ctx.services.db.session() as session:
        record = await take_action(session, ctx.params["cid"], ctx.user, req)
        out = view(record, show_moderator=True)
    if record.user_id is not None:
        # This node's chat caches first; the gateway carries the event to the other nodes.
        chat = ctx.services.components.get("chat")
        if chat is not None and hasattr(chat, "invalidate"):
            chat.invalidate(record.community_id, record.user_id)
    await ctx.services.events.emit(EVENT, event_payload(record))
    return out


@api.get(
    "/v1/communities/{cid}/moderation/log",
    query=paging.PageQuery,
    errors=[ErrorCode.NOT_FOUND, ErrorCode.INVALID_REQUEST],
)
async def log(ctx: Ctx[None, paging.PageQuery]) -> dict[str, Any]:
    """The community's moderation log, newest first (whoever may read the community).

    Entries name the moderator's role; the moderator's id is shown to moderators and up only.
    """
    async with ctx.services.db.session() as session:
        return await moderation_log(session, ctx.params["cid"], ctx.user.id, ctx.query.cursor, ctx.query.limit)
