"""HTTP endpoints of the live tab (going live, listing, ending, chat history), and the component
that starts the live and chat services."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from live.chat.service import ChatService
from live.communities.access import is_group_member, require_reader
from live.communities.models import Group
from live.communities.text import line
from live.errors import ApiError, not_found
from live.errors import ErrorCode as E
from live.http.api import Api, Ctx
from live.lives.service import LiveService, room_of
from live.safety.blocks import blocked_by
from live.safety.realtime import without_blocked

if TYPE_CHECKING:
    from live.lives.schedule import Schedule

api = Api("live")


Title = line(200)


def _starts_at(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("expected an ISO 8601 time such as 2026-03-01T18:00:00Z") from None
    if when.tzinfo is None:
        raise ValueError("must say its time zone (Z or +HH:MM)")
    return when.astimezone(dt.timezone.utc)


class LiveCreate(BaseModel):
    model_config = ConfigDict(strict=True)

    title: Title
    # In the future: a scheduled live (live.lives.schedule). Absent: live now.
    starts_at: Annotated[str, Field(max_length=64), AfterValidator(_starts_at)] | None = None


class ChatPage(BaseModel):
    after_seq: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=200)] = 50


def lives(ctx: Ctx[Any, Any]) -> LiveService:
    service: LiveService = ctx.services.components["lives"]
    return service


@api.post(
    "/v1/communities/{cid}/live",
    body=LiveCreate,
    status=201,
    errors=[E.NOT_FOUND, E.NOT_MEMBER, E.BANNED, E.MUTED, E.CONFLICT, E.INVALID_REQUEST],
)
async def go_live(ctx: Ctx[LiveCreate, None]) -> dict[str, Any]:
    """Go live in a community (members; one live at a time per host), or schedule a live.

    The live's WebSocket room is `room` (`live:{id}`); watchers of `community:{cid}` get
    `live.started`, members and followers a `live.started` notification. With `starts_at` (ISO
    8601 with a zone, in the future; else 422) the live is `scheduled`: see
    `POST /v1/live/{lid}/start` and `/reminder`.
    """
    if ctx.body.starts_at is not None:
        schedule: Schedule = ctx.services.components["schedule"]
        starts_at: Any = ctx.body.starts_at
        return await schedule.create(ctx.params["cid"], ctx.user, ctx.body.title, starts_at)
    return await lives(ctx).create(ctx.params["cid"], ctx.user, ctx.body.title)


class LiveList(BaseModel):
    status: Literal["live", "ended", "scheduled"] = "live"
    cursor: Annotated[str | None, Field(max_length=64)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


@api.get("/v1/communities/{cid}/live", query=LiveList, errors=[E.NOT_FOUND])
async def list_live(ctx: Ctx[None, LiveList]) -> dict[str, Any]:
    """What is live now in a community, most viewers first.

    `?status=scheduled` lists upcoming lives, soonest first, each with your `remind_me`;
    `?status=ended` lists past lives, newest first; both `limit` at a time (`next_cursor`).
    """
    q = ctx.query
    if q.status == "scheduled":
        schedule: Schedule = ctx.services.components["schedule"]
        return await schedule.upcoming(ctx.params["cid"], ctx.user, q.cursor, q.limit)
    if q.status == "ended":
        return await lives(ctx).list_ended(ctx.params["cid"], ctx.user, q.cursor, q.limit)
    return await lives(ctx).list_live(ctx.params["cid"], ctx.user)


@api.get("/v1/live/{lid}", errors=[E.NOT_FOUND])
async def get_live(ctx: Ctx[None, None]) -> dict[str, Any]:
    """One live, running or ended (with `peak_viewers`)."""
    return await lives(ctx).get(ctx.params["lid"], ctx.user)


@api.post("/v1/live/{lid}/end", errors=[E.NOT_FOUND, E.FORBIDDEN, E.CONFLICT])
async def end_live(ctx: Ctx[None, None]) -> dict[str, Any]:
    """End a live (its host, or moderators and up); `live.ended` goes to the community's watchers."""
    return await lives(ctx).end(ctx.params["lid"], ctx.user)


@api.get("/v1/live/{lid}/chat", query=ChatPage, errors=[E.NOT_FOUND])
async def live_chat(ctx: Ctx[None, ChatPage]) -> dict[str, Any]:
    """A live's stored chat, oldest first: `after_seq` pages on (`next_after_seq`), deleted messages left out."""
    live = await lives(ctx).readable(ctx.params["lid"], ctx.user)
    chat: ChatService = ctx.services.components["chat"]
    items = await chat.page(room_of(live.id), ctx.query.after_seq, ctx.query.limit)
    return await _chat_page(ctx, items)


async def _chat_page(ctx: Ctx[None, ChatPage], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A page of chat without the messages of people the caller blocked (pages on regardless)."""
    more = len(items) == ctx.query.limit
    nxt = items[-1]["seq"] if more else None
    async with ctx.services.db.session() as session:
        blocked = await blocked_by(session, ctx.user.id)
    return {"items": without_blocked(items, blocked), "next_after_seq": nxt}


@api.get("/v1/groups/{gid}/chat", query=ChatPage, errors=[E.NOT_FOUND, E.FORBIDDEN])
async def group_chat(ctx: Ctx[None, ChatPage]) -> dict[str, Any]:
    """A group's stored chat (room `group:{gid}`), oldest first; the group's members only."""
    gid = ctx.params["gid"]
    async with ctx.services.db.session() as session:
        group = await session.get(Group, gid)
        if group is None:
            raise not_found("group")
        await require_reader(session, group.community_id, ctx.user.id)
        if not await is_group_member(session, gid, ctx.user.id):
            raise ApiError(E.FORBIDDEN, "only members of this group can read its chat")
    chat: ChatService = ctx.services.components["chat"]
    items = await chat.page(f"group:{gid}", ctx.query.after_seq, ctx.query.limit)
    return await _chat_page(ctx, items)


class PinBody(BaseModel):
    model_config = ConfigDict(strict=True)

    seq: Annotated[int, Field(ge=1)]


@api.put("/v1/live/{lid}/pin", body=PinBody, errors=[E.NOT_FOUND, E.FORBIDDEN, E.CONFLICT])
async def pin_message(ctx: Ctx[PinBody, None]) -> dict[str, Any]:
    """Pin a chat message of the live by `seq` (the host, or moderators and up).

    The room hears `chat.pinned` {room, message}; joiners find it in `state.pinned`.
    """
    return {"pinned": await lives(ctx).pin(ctx.params["lid"], ctx.user, ctx.body.seq)}


@api.delete("/v1/live/{lid}/pin", errors=[E.NOT_FOUND, E.FORBIDDEN, E.CONFLICT])
async def unpin_message(ctx: Ctx[None, None]) -> dict[str, Any]:
    """Unpin the live's pinned message (`chat.pinned` with `message: null`)."""
    return {"pinned": await lives(ctx).pin(ctx.params["lid"], ctx.user, None)}


async def start(services: Any) -> None:
    chat = ChatService(services)
    services.components["chat"] = chat
    services.events.on("moderation.action", chat.on_moderation_action)
    services.events.on("community.chat_settings", chat.on_chat_settings)
    services.events.on("live.ended", chat.on_live_ended)
    live_service = LiveService(services)
    services.components["lives"] = live_service
    services.events.on("chat.message_deleted", live_service.on_chat_deleted)
    services.events.on("moderation.action", live_service.on_moderation_action)
    await live_service.resume_timers()


async def stop(services: Any) -> None:
    live_service = services.components.pop("lives", None)
    if live_service is not None:
        await live_service.close()
    chat = services.components.pop("chat", None)
    if chat is not None:
        await chat.writers.close()
