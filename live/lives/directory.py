"""The app's live tab (`GET /v1/live?scope=mine|public`, live.lives.api): lives across communities.

- `scope=mine` (default): the communities I belong to (any read policy) or follow (public ones).
- `scope=public`: every public community.
- `status=live` (default): what is live now, most viewers first. Viewer counts move every second,
  so this list is ranked when asked and paged by position (`next_cursor` is an offset into that
  ranking: a live may move between two pages; at most `MAX_RANKED` lives are ranked).
- `status=scheduled`: upcoming lives, soonest first, each with the caller's `remind_me` (paged by
  `(starts_at, id)`).
Each item is a live object plus `community: {id, name}`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import Select, or_, select

from live.communities.follows import Follow
from live.communities.models import Community, Membership
from live.http import cursors
from live.http.schemas import Query
from live.lives.models import LIVE, SCHEDULED, Live
from live.lives.schedule import page_upcoming, upcoming_page
from live.lives.service import LiveService
from live.storage.db import Database
from live.storage.models import User

MAX_RANKED = 2000


class Directory(Query):
    scope: Literal["mine", "public"] = "mine"
    status: Literal["live", "scheduled"] = "live"
    cursor: Annotated[str | None, Field(max_length=512)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


def _scoped(stmt: Select[Live, str, str], scope: str, user_id: str) -> Select[Live, str, str]:
    stmt = stmt.join(Community, Community.id == Live.community_id).where(Community.deleted_at.is_(None))
    if scope == "public":
        return stmt.where(Community.read_policy == "public")
    member_of = select(Membership.community_id).where(Membership.user_id == user_id)
    follows = select(Follow.community_id).where(Follow.user_id == user_id)
    return stmt.where(or_(
        Live.community_id.in_(member_of),
        Live.community_id.in_(follows) & (Community.read_policy == "public"),
    ))


async def live_tab(db: Database, lives: LiveService, q: Directory, uid: str) -> dict[str, Any]:
    """Lives across communities: mine (joined or followed) or every public one; now or upcoming."""
    async with db.session() as session:
        base = select(Live, User.name, Community.name).join(User, User.id == Live.host_id)
        if q.status == "scheduled":
            stmt = _scoped(base, q.scope, uid).where(Live.status == SCHEDULED)
            rows = await page_upcoming(session, stmt, q.cursor, q.limit)
            names = {live.id: cname for live, _, cname in rows}
            out = await upcoming_page(lives, session, [(live, host) for live, host, _ in rows], uid, q.limit)
            for item in out["items"]:
                item["community"] = {"id": item["community_id"], "name": names[item["id"]]}
            return out
        stmt = _scoped(base, q.scope, uid).where(Live.status == LIVE)
        ranked = (await session.execute(stmt.order_by(Live.started_at.desc()).limit(MAX_RANKED))).all()
    items = [
        {**lives.view(live, host), "community": {"id": live.community_id, "name": cname}}
        for live, host, cname in ranked
    ]
    items.sort(key=lambda v: (-v["viewer_count"], v["started_at"] or ""))
    key = cursors.decode(q.cursor, int)
    start = key[0] if key is not None else 0
    if start < 0:
        raise cursors.bad_cursor()
    page = items[start:start + q.limit]
    more = start + q.limit < len(items)
    return {"items": page, "next_cursor": cursors.encode(start + q.limit) if more else None}
