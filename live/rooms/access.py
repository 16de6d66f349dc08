"""Who may be in which room: the one place room names meet community permissions.

- `live:{lid}`: anyone who may read the live's community watches; chatting needs membership.
- `group:{gid}`: the group's members (watch and chat); someone not in the community gets
  `not_member`, a member not in the group `forbidden`.
- `community:{cid}`: the community's readers (`live.started` / `live.ended`); announcements
  reach only members (filtered at delivery, see `live.signaling.gateway`).

A ban in force refuses every room of the community (`banned`, with `until`). The same decision
is taken again when a right is revoked (`live.signaling.revocation`): whoever a join would refuse
now is taken out of the room.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from sqlalchemy import select

from live.coalesce import Batcher, Coalescer
from live.communities.access import reader_allowed, require_reader
from live.communities.models import Community, Group, GroupMember, Membership
from live.errors import ApiError, ErrorCode, not_found
from live.moderation.models import Sanction
from live.moderation.sanctions import BAN, banned_error, check_not_banned, in_force
from live.room_id import RoomId, RoomKind
from live.storage.db import Database

# A community (None: none such), the user's membership in it (None: not a member), and their ban (if any).
_Standing = tuple[Community | None, Membership | None, Sanction | None]


@dataclasses.dataclass(frozen=True, slots=True)
class RoomAccess:
    """What a user may do in a room, decided once when they join (kept until they leave)."""

    room: RoomId
    community_id: str
    member: bool  # a member of the community (chat rights are the chat service's to judge)
    host_id: str | None = None  # live rooms: the host (not counted as a viewer)

    @property
    def kind(self) -> RoomKind:
        return self.room.kind

    @property
    def ident(self) -> str:
        return self.room.ident

    @property
    def has_chat(self) -> bool:
        return self.room.has_chat


class LiveFacts(Protocol):
    """What a live room's access needs to know of the live (`live.lives.service.LiveInfo`)."""

    @property
    def community_id(self) -> str: ...
    @property
    def host_id(self) -> str: ...
    @property
    def status(self) -> str: ...


class LiveDirectory(Protocol):
    """Where a live's facts are read (the live service)."""

    async def room_info(self, lid: str) -> LiveFacts | None: ...


class RoomChecks:
    """Room-access decisions for the gateway, with the reads of a join storm shared.

    Joins that arrive together read the live's row once (`Coalescer`) and the joiners'
    memberships and bans in one query per community (`Batcher`) instead of one each: the same
    decisions, read at the same moment or later than one at a time would.
    """

    def __init__(self, db: Database, lives: LiveDirectory, *, shared: bool = True) -> None:
        self.db = db
        self.lives = lives
        self._lives = Coalescer() if shared else None
        self._standing = Batcher(self._read_standing) if shared else None
        self._groups = Batcher(self._read_groups) if shared else None

    async def check(self, room: RoomId, user_id: str) -> RoomAccess:
        kind, ident = room.kind, room.ident
        if kind is RoomKind.LIVE:
            if self._lives is not None:
                info = await self._lives.run(ident, lambda: self.lives.room_info(ident))
            else:
                info = await self.lives.room_info(ident)
            if info is None:
                raise not_found("live")
            status = info.status
            if status != "live":
                raise ApiError(ErrorCode.CONFLICT,
                               "this live has not started yet" if status == "scheduled" else "this live has ended")
            member = await self._reader(info.community_id, user_id)
            return RoomAccess(room, info.community_id, member is not None, host_id=info.host_id)
        if kind is RoomKind.GROUP:
            group, in_group = await self._group(ident, user_id)
            if group is None or group.archived_at is not None:
                raise not_found("group")
            member = await self._reader(group.community_id, user_id)
            if member is None:
                raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community can join its groups' rooms")
            if not in_group:
                raise ApiError(ErrorCode.FORBIDDEN, "only members of this group can join its room")
            return RoomAccess(room, group.community_id, True)
        member = await self._reader(ident, user_id)
        return RoomAccess(room, ident, member is not None)

    async def _reader(self, community_id: str, user_id: str) -> Membership | None:
        """The membership (None: a reader who is not a member); refused as `require_reader` and
        `check_not_banned` would."""
        if self._standing is None:
            async with self.db.session() as session:
                _, member = await require_reader(session, community_id, user_id)
                await check_not_banned(session, community_id, user_id)
            return member
        standing: _Standing = await self._standing.load((community_id, user_id))  # `_read_standing` answers
        community, member, ban = standing
        if community is None:
            raise not_found("community")
        reader_allowed(community, member)
        if ban is not None and in_force(ban):
            raise banned_error(ban)
        return member

    async def _group(self, group_id: str, user_id: str) -> tuple[Group | None, bool]:
        """The group (None: no such group) and whether the user is in it."""
        if self._groups is None:
            found = await self._read_groups([(group_id, user_id)])
            return found[(group_id, user_id)]
        loaded: tuple[Group | None, bool] = await self._groups.load((group_id, user_id))  # `_read_groups` answers
        return loaded

    async def _read_groups(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[Group | None, bool]]:
        by_group: dict[str, list[str]] = {}
        for group_id, user_id in keys:
            by_group.setdefault(group_id, []).append(user_id)
        found: dict[tuple[str, str], tuple[Group | None, bool]] = {}
        async with self.db.session() as session:
            groups = {g.id: g for g in (await session.execute(
                select(Group).where(Group.id.in_(list(by_group))))).scalars()}
            inside: set[tuple[str, str]] = set()
            if groups:
                rows = await session.execute(
                    select(GroupMember.group_id, GroupMember.user_id).where(
                        GroupMember.group_id.in_(list(groups)),
                        GroupMember.user_id.in_({u for users in by_group.values() for u in users})))
                inside = {(g, u) for g, u in rows}
        for group_id, user_ids in by_group.items():
            for user_id in user_ids:
                found[(group_id, user_id)] = (groups.get(group_id), (group_id, user_id) in inside)
        return found

    async def _read_standing(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], _Standing]:
        by_community: dict[str, list[str]] = {}
        for community_id, user_id in keys:
            by_community.setdefault(community_id, []).append(user_id)
        found: dict[tuple[str, str], _Standing] = {}
        async with self.db.session() as session:
            for community_id, user_ids in by_community.items():
                community = (await session.execute(
                    select(Community).where(Community.id == community_id, Community.deleted_at.is_(None))
                )).scalar_one_or_none()
                members: dict[str, Membership] = {}
                bans: dict[str, Sanction] = {}
                if community is not None:
                    members = {m.user_id: m for m in (await session.execute(select(Membership).where(
                        Membership.community_id == community_id, Membership.user_id.in_(user_ids)))).scalars()}
                    bans = {b.user_id: b for b in (await session.execute(select(Sanction).where(
                        Sanction.community_id == community_id, Sanction.kind == BAN,
                        Sanction.user_id.in_(user_ids)))).scalars()}
                for user_id in user_ids:
                    found[(community_id, user_id)] = (community, members.get(user_id), bans.get(user_id))
        return found


async def members_among(db: Database, community_id: str, user_ids: set[str],
                        group_ids: list[str]) -> set[str]:
    """Which of `user_ids` an announcement reaches: members, and of the named groups if any."""
    if not user_ids:
        return set()
    async with db.session() as session:
        rows = await session.execute(
            select(Membership.user_id).where(
                Membership.community_id == community_id, Membership.user_id.in_(user_ids)
            )
        )
        members = {r[0] for r in rows}
        if group_ids and members:
            rows = await session.execute(
                select(GroupMember.user_id).where(
                    GroupMember.group_id.in_(group_ids), GroupMember.user_id.in_(members)
                )
            )
            members = {r[0] for r in rows}
    return members

