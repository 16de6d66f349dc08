"""HTTP endpoints of lives: going live or scheduling, the live tab, listing, starting, ending,
reminders, pins, and chat history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from live.chat.service import ChatService
from live.communities.text import line
from live.errors import ErrorCode as E
from live.http.api import Api, Ctx
from live.lives import directory
from live.lives.schedule import Schedule
from live.lives.service import LiveService, room_of
from live.safety.blocks import blocked_by, without_blocked
from live.services import Core

MAX_SEQ = 2**31 - 1  # chat seq columns are INTEGER (32 bits on PostgreSQL): a larger seq names no message


class LiveServices(Core, Protocol):
    """What the live routes need of the node."""

    lives: LiveService
    schedule: Schedule
    chat: ChatService


api: Api[LiveServices] = Api("live")


Title = Annotated[str, *line(200)]


def _starts_at(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("expected an ISO 8601 time such as 2026-03-01T18:00:00Z") from None
    if when.tzinfo is None:
        raise ValueError("must say its time zone (Z or +HH:MM)")
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise ValueError("out of range") from None


class LiveCreate(BaseModel):
    model_config = ConfigDict(strict=True)

    title: Title
    # In the future: a scheduled live (live.lives.schedule). Absent: live now.
    starts_at: Annotated[str, Field(max_length=64), AfterValidator(_starts_at)] | None = None


class ChatPage(BaseModel):
    after_seq: Annotated[int, Field(ge=0, le=MAX_SEQ)] = 0
    limit: Annotated[int, Field(ge=1, le=200)] = 50


@api.post(
    "/v1/communities/{cid}/live",
    body=LiveCreate,
    status=201,
    errors=[E.NOT_FOUND, E.NOT_MEMBER, E.BANNED, E.MUTED, E.CONFLICT, E.INVALID_REQUEST],
)
async def go_live(ctx: Ctx[LiveServices, LiveCreate, None]) -> dict[str, Any]:
    """Go live in a community (members; one live at a time per host), or schedule a live.

    The live's WebSocket room is `room` (`live:{id}`); watchers of `community:{cid}` get
    `live.started`, members and followers a `live.started` notification. With `starts_at` (ISO
    8601 with a zone, in the future; else 422) the live is `scheduled`: see
    `POST /v1/live/{lid}/start` and `/reminder`.
    """
    if ctx.body.starts_at is not None:
        starts_at: Any = ctx.body.starts_at  # the validator made it a datetime
        return await ctx.services.schedule.create(ctx.params["cid"], ctx.user, ctx.body.title, starts_at)
    return await ctx.services.lives.create(ctx.params["cid"], ctx.user, ctx.body.title)


class LiveList(BaseModel):
    status: Literal["live", "ended", "scheduled"] = "live"
    cursor: Annotated[str | None, Field(max_length=64)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


@api.get("/v1/communities/{cid}/live", query=LiveList, errors=[E.NOT_FOUND])
async def list_live(ctx: Ctx[LiveServices, None, LiveList]) -> dict[str, Any]:
    """What is live now in a community, most viewers first.

    `?status=scheduled` lists upcoming lives, soonest first, each with your `remind_me`;
    `?status=ended` lists past lives, newest first; both `limit` at a time (`next_cursor`).
    """
    q = ctx.query
    if q.status == "scheduled":
        return await ctx.services.schedule.upcoming(ctx.params["cid"], ctx.user, q.cursor, q.limit)
    if q.status == "ended":
        return await ctx.services.lives.list_ended(ctx.params["cid"], ctx.user, q.cursor, q.limit)
    return await ctx.services.lives.list_live(ctx.params["cid"], ctx.user)


@api.get("/v1/live/{lid}", errors=[E.NOT_FOUND])
async def get_live(ctx: Ctx[LiveServices, None, None]) -> dict[str, Any]:
    """One live, running or ended (with `peak_viewers`)."""
    return await ctx.services.lives.get(ctx.params["lid"], ctx.user)


@api.post("/v1/live/{lid}/end", errors=[E.NOT_FOUND, E.FORBIDDEN, E.CONFLICT])
async def end_live(ctx: Ctx[LiveServices, None, None]) -> dict[str, Any]:
    """End a live (its host, or moderators and up); `live.ended` goes to the community's watchers."""
    return await ctx.services.lives.end(ctx.params["lid"], ctx.user)


@api.get("/v1/live/{lid}/chat", query=ChatPage, errors=[E.NOT_FOUND])
async def live_chat(ctx: Ctx[LiveServices, None, ChatPage]) -> dict[str, Any]:
    """A live's stored chat, oldest first: `after_seq` pages on (`next_after_seq`), deleted messages left out."""
    live = await ctx.services.lives.readable(ctx.params["lid"], ctx.user)
    items = await ctx.services.chat.page(room_of(live.id), ctx.query.after_seq, ctx.query.limit)
    return await _chat_page(ctx, items)


async def _chat_page(ctx: Ctx[LiveServices, None, ChatPage], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A page of chat without the messages of people the caller blocked (pages on regardless)."""
    more = len(items) == ctx.query.limit
    nxt = items[-1]["seq"] if more else None
    async with ctx.services.db.session() as session:
        blocked = await blocked_by(session, ctx.user.id)
    return {"items": without_blocked(items, blocked), "next_after_seq": nxt}


@api.get("/v1/groups/{gid}/chat", query=ChatPage, errors=[E.NOT_FOUND, E.FORBIDDEN])
async def group_chat(ctx: Ctx[LiveServices, None, ChatPage]) -> dict[str, Any]:
    """A group's stored chat (room `group:{gid}`), oldest first; the group's members only."""
    room = await ctx.services.chat.readable_group_room(ctx.params["gid"], ctx.user.id)
    items = await ctx.services.chat.page(room, ctx.query.after_seq, ctx.query.limit)
    return await _chat_page(ctx, items)


class PinBody(BaseModel):
    model_config = ConfigDict(strict=True)

    seq: Annotated[int, Field(ge=1, le=MAX_SEQ)]


@api.put("/v1/live/{lid}/pin", body=PinBody, errors=[E.NOT_FOUND, E.FORBIDDEN, E.CONFLICT])
async def pin_message(ctx: Ctx[LiveServices, PinBody, None]) -> dict[str, Any]:
    """Pin a chat message of the live by `seq` (the host, or moderators and up).

    The room hears `chat.pinned` {room, message}; joiners find it in `state.pinned`.
    """
    return {"pinned": await ctx.services.lives.pins.pin(ctx.params["lid"], ctx.user, ctx.body.seq)}


@api.delete("/v1/live/{lid}/pin", errors=[E.NOT_FOUND, E.FORBIDDEN, E.CONFLICT])
async def unpin_message(ctx: Ctx[LiveServices, None, None]) -> dict[str, Any]:
    """Unpin the live's pinned message (`chat.pinned` with `message: null`)."""
    return {"pinned": await ctx.services.lives.pins.pin(ctx.params["lid"], ctx.user, None)}


@api.get("/v1/live", query=directory.Directory, errors=[E.INVALID_REQUEST])
async def live_tab(ctx: Ctx[LiveServices, None, directory.Directory]) -> dict[str, Any]:
    """Lives across communities: mine (joined or followed) or every public one; now or upcoming."""
    return await directory.live_tab(ctx.services.db, ctx.services.lives, ctx.query, ctx.user.id)


@api.post("/v1/live/{lid}/start", errors=[E.NOT_FOUND, E.FORBIDDEN, E.CONFLICT, E.BANNED, E.MUTED])
async def start_live(ctx: Ctx[LiveServices, None, None]) -> dict[str, Any]:
    """Start a scheduled live (its host): status `live`; `live.started` goes to everyone who follows it."""
    return await ctx.services.schedule.start(ctx.params["lid"], ctx.user)


@api.post("/v1/live/{lid}/reminder", errors=[E.NOT_FOUND, E.CONFLICT])
async def remind_me(ctx: Ctx[LiveServices, None, None]) -> dict[str, Any]:
    """Remind me of a scheduled live (any reader): `live.reminder` before it, `live.started` at it.

    409 `conflict` once the live has started or ended.
    """
    await ctx.services.schedule.remind(ctx.params["lid"], ctx.user, True)
    return {"live_id": ctx.params["lid"], "remind_me": True}


@api.delete("/v1/live/{lid}/reminder", status=204, errors=[E.NOT_FOUND])
async def forget_reminder(ctx: Ctx[LiveServices, None, None]) -> None:
    """Stop the reminder of a live (idempotent)."""
    await ctx.services.schedule.remind(ctx.params["lid"], ctx.user, False)
