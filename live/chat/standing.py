"""What a chat message is checked against: its sender's standing (cached per user, read in
batches), and the reads of its room and of its community's rules.

Every chat message is checked against its sender's standing in the community (role, groups, a
ban or mute in force). Reading that per message would put three queries in front of every
message; it is cached instead, for STANDING_TTL seconds at most (a moderation action or a
membership change drops the cached entry at once on every node, through `invalidate`; the TTL
only bounds what a lost notification could leave behind, and a timed sanction is never cached
past its end).

In a busy room the cache still misses all the time: 500 senders are 100 reloads a second. The
misses that arrive together are read together (`live.coalesce.Batcher`): one read-only unit,
three queries per community (memberships, group memberships, sanctions) for all of them, instead
of a session and three queries each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import cast

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from live.coalesce import Batcher
from live.communities.access import Role
from live.communities.models import Community, Group, GroupMember, Membership
from live.errors import ApiError
from live.moderation.models import Sanction
from live.moderation.sanctions import BAN, MUTE, banned_error, in_force, muted_error
from live.storage.base import utcnow
from live.storage.db import Database

STANDING_TTL = 5.0  # seconds a cached role/sanction may lag behind (invalidate() is instant)
MAX_ENTRIES = 50_000  # past this the cache starts over (memory follows active senders)

Key = tuple[str, str]  # (community_id, user_id)


@dataclasses.dataclass(frozen=True, slots=True)
class Standing:
    """A user in a community: role, groups, and the ban/mute that silences them, if any."""

    role: Role | None
    groups: frozenset[str]
    silenced: ApiError | None
    expires: float


@dataclasses.dataclass(frozen=True, slots=True)
class _Found:
    """What the database says of one user, before it gets its expiry."""

    role: Role | None
    groups: frozenset[str]
    silenced: ApiError | None
    until: dt.datetime | None  # the end of a timed ban or mute that silences them


class Standings:
    """The cached standings of one node; `get` reads the misses that arrive together at once."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._clock = clock
        self._cache: dict[Key, Standing] = {}
        self._batcher = Batcher(self._read)
        # Bumped by every invalidate(): a read that started before one must not cache what it saw.
        self._generation = 0

    def invalidate(self, community_id: str, user_id: str) -> None:
        """Forget the user's cached role and sanctions here (after a moderation action)."""
        self._generation += 1
        self._cache.pop((community_id, user_id), None)

    async def get(self, community_id: str, user_id: str) -> Standing:
        key = (community_id, user_id)
        cached = self._cache.get(key)
        now = self._clock()
        if cached is not None and cached.expires > now:
            return cached
        generation = self._generation
        found: _Found = await self._batcher.load(key)
        now = self._clock()
        expires = now + STANDING_TTL
        if found.until is not None:
            # A timed sanction lifts itself: do not keep it cached past its end.
            expires = min(expires, now + max(0.0, (found.until - utcnow()).total_seconds()))
        standing = Standing(found.role, found.groups, found.silenced, expires)
        if generation == self._generation:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = standing
        return standing

    async def _read(self, keys: list[Key]) -> dict[Key, _Found]:
        return await self.db.run_read(read_standings, keys)


_MEMBERS, _GROUP_MEMBERS, _GROUPS, _SANCTIONS = (
    Membership.__table__, GroupMember.__table__, Group.__table__, Sanction.__table__
)
# Built once (a statement keeps its cache key; see live/chat/batch.py); `users` expands to a list.
_ROLES = select(_MEMBERS.c.user_id, _MEMBERS.c.role).where(
    _MEMBERS.c.community_id == bindparam("community"), _MEMBERS.c.user_id.in_(bindparam("users", expanding=True))
)
_IN_GROUPS = (
    select(_GROUP_MEMBERS.c.user_id, _GROUP_MEMBERS.c.group_id)
    .join(_GROUPS, _GROUPS.c.id == _GROUP_MEMBERS.c.group_id)
    .where(_GROUPS.c.community_id == bindparam("community"),
           _GROUP_MEMBERS.c.user_id.in_(bindparam("users", expanding=True)))
)
_HELD = select(_SANCTIONS).where(
    _SANCTIONS.c.community_id == bindparam("community"), _SANCTIONS.c.user_id.in_(bindparam("users", expanding=True))
)


def read_standings(conn: Connection, keys: list[Key]) -> dict[Key, _Found]:
    """The standings of these (community, user) pairs: three queries per community, synchronous
    (on SQLite on the event loop, no thread hop: `Database.run_read`)."""
    by_community: dict[str, list[str]] = {}
    for community_id, user_id in keys:
        by_community.setdefault(community_id, []).append(user_id)
    found: dict[Key, _Found] = {}
    for community_id, user_ids in by_community.items():
        params = {"community": community_id, "users": user_ids}
        roles = {user_id: Role(role) for user_id, role in conn.execute(_ROLES, params)}
        in_groups: dict[str, set[str]] = {}
        for user_id, group_id in conn.execute(_IN_GROUPS, params):
            in_groups.setdefault(user_id, set()).add(group_id)
        now = utcnow()
        held: dict[str, dict[str, Sanction]] = {}
        for row in conn.execute(_HELD, params):
            sanction = cast(Sanction, row)  # a row has the model's columns, which is all these read
            if in_force(sanction, now):
                held.setdefault(sanction.user_id, {})[sanction.kind] = sanction
        for user_id in user_ids:
            mine = held.get(user_id, {})
            # A ban before a mute, as `check_can_speak` decides.
            worst = mine.get(BAN) or mine.get(MUTE)
            silenced = None
            if worst is not None:
                silenced = banned_error(worst) if worst.kind == BAN else muted_error(worst)
            found[(community_id, user_id)] = _Found(
                roles.get(user_id), frozenset(in_groups.get(user_id, ())), silenced,
                worst.until if worst is not None else None,
            )
    return found


def read_room(conn: Connection, kind: str, ident: str) -> tuple[str, bool] | None:
    """A chat room's (community_id, open): a live that is still on, a group not archived; None
    when there is no such live or group."""
    if kind == "live":
        from live.lives.models import LIVE, Live

        lives = Live.__table__
        row = conn.execute(select(lives.c.community_id, lives.c.status).where(lives.c.id == ident)).first()
        return None if row is None else (str(row.community_id), row.status == LIVE)
    groups = Group.__table__
    row = conn.execute(select(groups.c.community_id, groups.c.archived_at).where(groups.c.id == ident)).first()
    return None if row is None else (str(row.community_id), row.archived_at is None)


def read_chat_rules(conn: Connection, community_id: str) -> tuple[int, list[str]] | None:
    """A community's (slow mode seconds, blocked words); None when it does not exist (or is deleted)."""
    communities = Community.__table__
    row = conn.execute(
        select(communities.c.slow_mode_seconds, communities.c.blocked_words)
        .where(communities.c.id == community_id, communities.c.deleted_at.is_(None))
    ).first()
    return None if row is None else (int(row.slow_mode_seconds or 0), list(row.blocked_words or []))
