"""Who may be in which room: the one place room names meet community permissions.

- `live:{lid}`: anyone who may read the live's community watches; chatting needs membership.
- `group:{gid}`: the group's members (watch and chat).
- `community:{cid}`: the community's readers (`live.started` / `live.ended`); announcements
  reach only members (filtered at delivery, see `live.signaling.gateway`).

A ban in force refuses every room of the community (`banned`, with `until`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from live.communities.access import require_reader
from live.communities.models import Group, GroupMember
from live.errors import ApiError, ErrorCode, not_found
from live.moderation.sanctions import check_not_banned


@dataclasses.dataclass(frozen=True, slots=True)
class RoomAccess:
    """What a user may do in a room, decided once when they join (kept until they leave)."""

    room: str
    kind: str  # "live" | "group" | "community"
    ident: str
    community_id: str
    member: bool  # a member of the community (chat rights are the chat service's to judge)
    host_id: str | None = None  # live rooms: the host (not counted as a viewer)

    @property
    def has_chat(self) -> bool:
        return self.kind in ("live", "group")


def split_room(room: str) -> tuple[str, str]:
    kind, _, ident = room.partition(":")
    return kind, ident


async def check_room(services: Any, room: str, user_id: str) -> RoomAccess:
    """The user's access to `room`, or the ApiError that refuses it."""
    kind, ident = split_room(room)
    if kind == "live":
        lives = services.components.get("lives")
        if lives is None:
            raise ApiError(ErrorCode.UNAVAILABLE, "live sessions are not available on this server")
        info = await lives.room_info(ident)
        if info is None:
            raise not_found("live")
        if getattr(info, "status", "live") != "live":
            raise ApiError(ErrorCode.CONFLICT, "this live has ended")
        community_id = info.community_id
        async with services.db.session() as session:
            _, member = await require_reader(session, community_id, user_id)
            await check_not_banned(session, community_id, user_id)
        return RoomAccess(room, kind, ident, community_id, member is not None, host_id=info.host_id)
    if kind == "group":
        async with services.db.session() as session:
            group = await session.get(Group, ident)
            if group is None or group.archived_at is not None:
                raise not_found("group")
            _, member = await require_reader(session, group.community_id, user_id)
            await check_not_banned(session, group.community_id, user_id)
            in_group = await session.get(GroupMember, (ident, user_id)) is not None
            if not in_group:
                raise ApiError(ErrorCode.FORBIDDEN, "only members of this group can join its room")
            return RoomAccess(room, kind, ident, group.community_id, member is not None)
    if kind == "community":
        async with services.db.session() as session:
            _, member = await require_reader(session, ident, user_id)
            await check_not_banned(session, ident, user_id)
        return RoomAccess(room, kind, ident, ident, member is not None)
    raise ApiError(ErrorCode.INVALID_REQUEST, "unknown room kind", fields={"room": "unknown kind"})


async def members_among(services: Any, community_id: str, user_ids: set[str],
                        group_ids: list[str]) -> set[str]:
    """Which of `user_ids` an announcement reaches: members, and of the named groups if any."""
    from sqlalchemy import select

    from live.communities.models import Membership

    if not user_ids:
        return set()
    async with services.db.session() as session:
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

