"""Communities and memberships: create, discover, edit, delete, join, leave, roles, ownership.

Plain async functions on a session (the caller owns the transaction); the HTTP handlers in
`routes.py` open the session and turn results into responses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities import views
from live.communities.access import Role, load_community, membership, require_reader, require_role
from live.communities.guards import check_not_banned
from live.communities.models import Community, CommunityTopic, Group, GroupMember, Invite, Membership
from live.communities.rules import check_role_change
from live.communities.schemas import CommunityCreate, CommunityPatch, Discover, MembersQuery
from live.communities.sql import insert_if_absent, like_pattern
from live.errors import ApiError, ErrorCode
from live.http import cursors
from live.storage.base import utcnow
from live.storage.ids import new_id
from live.storage.models import User


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialize one user's ownership changes (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def lock_community(session: AsyncSession, community_id: str) -> None:
    """Serialize role and ownership changes of one community (a row lock on PostgreSQL)."""
    await session.execute(select(Community.id).where(Community.id == community_id).with_for_update())


async def owned_count(session: AsyncSession, user_id: str) -> int:
    stmt = select(func.count()).select_from(Community).where(
        Community.owner_id == user_id, Community.deleted_at.is_(None)
    )
    return int((await session.execute(stmt)).scalar_one())


async def check_owner_limit(session: AsyncSession, user_id: str, limit: int) -> None:
    """409 `community_limit` when `user_id` already owns `limit` communities (caller holds the lock)."""
    if await owned_count(session, user_id) >= limit:
        raise ApiError(
            ErrorCode.COMMUNITY_LIMIT, f"a user may own at most {limit} communities"
        )


async def create(
    session: AsyncSession, user_id: str, body: CommunityCreate, *, limit: int, invite_quota: int
) -> dict[str, Any]:
    await lock_user(session, user_id)
    await check_owner_limit(session, user_id, limit)
    community = Community(
        id=new_id(),
        name=body.name,
        description=body.description,
        topics=body.topics,
        join_policy=body.join_policy,
        read_policy=body.read_policy,
        member_list="members",
        owner_id=user_id,
        member_count=1,
        slow_mode_seconds=0,
        blocked_words=[],
        rules="",
        created_at=utcnow(),
    )
    community.refresh_search()
    session.add(community)
    await session.flush()
    session.add_all(CommunityTopic(community_id=community.id, topic=t) for t in body.topics)
    session.add(
        Membership(
            community_id=community.id,
            user_id=user_id,
            role=Role.OWNER.value,
            invites_left=invite_quota,
            joined_at=community.created_at,
        )
    )
    return views.community(community, Role.OWNER.value)


async def discover(session: AsyncSession, user_id: str, query: Discover) -> dict[str, Any]:
    """Communities the caller may read, most members first (`q` in name/description, `topic`)."""
    mine = exists().where(Membership.community_id == Community.id, Membership.user_id == user_id)
    stmt = select(Community).where(
        Community.deleted_at.is_(None), or_(Community.read_policy == "public", mine)
    )
    if query.q and query.q.strip():
        for word in query.q.casefold().split():
            stmt = stmt.where(Community.search.like(like_pattern(word), escape="\\"))
    if query.topic:
        topic = query.topic.removeprefix("#").casefold()
        stmt = stmt.where(
            exists().where(CommunityTopic.community_id == Community.id, CommunityTopic.topic == topic)
        )
    key = cursors.decode(query.cursor, int, str)
    if key is not None:
        count, last_id = key
        stmt = stmt.where(
            or_(
                Community.member_count < count,
                and_(Community.member_count == count, Community.id < last_id),
            )
        )
    stmt = stmt.order_by(Community.member_count.desc(), Community.id.desc()).limit(query.limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    page = rows[: query.limit]
    roles = await _my_roles(session, user_id, [c.id for c in page])
    last = page[-1] if len(rows) > query.limit else None
    return {
        "items": [views.community(c, roles.get(c.id)) for c in page],
        "next_cursor": cursors.encode(last.member_count, last.id) if last else None,
    }


async def _my_roles(session: AsyncSession, user_id: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    stmt = select(Membership.community_id, Membership.role).where(
        Membership.user_id == user_id, Membership.community_id.in_(ids)
    )
    return {cid: role for cid, role in (await session.execute(stmt)).all()}


async def get(session: AsyncSession, community_id: str, user_id: str) -> dict[str, Any]:
    community, member = await require_reader(session, community_id, user_id)
    return views.community(community, member.role if member else None)


async def patch(session: AsyncSession, community_id: str, user_id: str, body: CommunityPatch) -> dict[str, Any]:
    community, member = await require_role(session, community_id, user_id, Role.ADMIN)
    changes = body.model_dump(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            "these fields cannot be null",
            fields={k: "must not be null" for k in nulls},
        )
    for field, value in changes.items():
        setattr(community, field, value)
    community.refresh_search()
    if "topics" in changes:
        await session.execute(delete(CommunityTopic).where(CommunityTopic.community_id == community.id))
        session.add_all(CommunityTopic(community_id=community.id, topic=t) for t in changes["topics"])
    return views.community(community, member.role)


async def remove(session: AsyncSession, community_id: str, user_id: str) -> None:
    """Soft delete (owner only): the community disappears everywhere; its rows stay for audit."""
    community, _member = await require_role(session, community_id, user_id, Role.OWNER)
    community.deleted_at = utcnow()


async def add_member(
    session: AsyncSession, community_id: str, user_id: str, *, invites_left: int, invited_by: str | None
) -> Membership:
    """Insert the membership (409 `conflict` when it exists) and count it.

    Invitations still outstanding from an earlier membership count against the new grant, so
    leaving and re-joining cannot multiply live invite codes.
    """
    now = utcnow()
    outstanding = await session.execute(
        select(func.count()).select_from(Invite).where(
            Invite.community_id == community_id,
            Invite.created_by == user_id,
            Invite.quota_spent.is_(True),
            Invite.used_by.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
    )
    invites_left = max(0, invites_left - int(outstanding.scalar_one()))
    inserted = await insert_if_absent(
        session,
        Membership,
        {
            "community_id": community_id,
            "user_id": user_id,
            "role": Role.MEMBER.value,
            "invites_left": invites_left,
            "invited_by": invited_by,
            "joined_at": now,
        },
    )
    if not inserted:
        raise ApiError(ErrorCode.CONFLICT, "already a member of this community")
    await session.execute(
        update(Community).where(Community.id == community_id).values(member_count=Community.member_count + 1)
    )
    return Membership(
        community_id=community_id, user_id=user_id, role=Role.MEMBER.value,
        invites_left=invites_left, invited_by=invited_by, joined_at=now,
    )


async def remove_member(session: AsyncSession, community_id: str, user_id: str) -> bool:
    """Delete a membership and the user's group memberships in that community; False if none.

    Moderation uses this too (kick, ban). The owner cannot be removed this way.
    """
    result = await session.execute(
        delete(Membership)
        .where(
            Membership.community_id == community_id,
            Membership.user_id == user_id,
            Membership.role != Role.OWNER.value,
        )
        .returning(Membership.user_id)
    )
    if result.first() is None:
        return False
    groups = select(Group.id).where(Group.community_id == community_id)
    await session.execute(
        delete(GroupMember).where(GroupMember.user_id == user_id, GroupMember.group_id.in_(groups))
    )
    await session.execute(
        update(Community).where(Community.id == community_id).values(member_count=Community.member_count - 1)
    )
    return True


async def join(session: AsyncSession, community_id: str, user_id: str, *, invite_quota: int) -> dict[str, Any]:
    """Join an open community (invite-only: 403 `invite_required`; use an invite or a request)."""
    community = await load_community(session, community_id)
    await check_not_banned(session, community_id, user_id)
    if community.join_policy != "open":
        if await membership(session, community_id, user_id) is not None:
            raise ApiError(ErrorCode.CONFLICT, "already a member of this community")
        raise ApiError(ErrorCode.INVITE_REQUIRED, "this community is invite-only: use an invite or a join request")
    member = await add_member(session, community_id, user_id, invites_left=invite_quota, invited_by=None)
    return views.membership(member, await user_name(session, user_id))


async def leave(session: AsyncSession, community_id: str, user_id: str) -> dict[str, Any]:
    """Leave (not the owner); returns the community as the caller now sees it (`my_role` null)."""
    community = await load_community(session, community_id)
    member = await membership(session, community_id, user_id)
    if member is None:
        raise ApiError(ErrorCode.NOT_MEMBER, "not a member of this community")
    if member.role == Role.OWNER.value:
        raise ApiError(ErrorCode.CONFLICT, "the owner cannot leave: hand over ownership or delete the community")
    await remove_member(session, community_id, user_id)
    await session.refresh(community)
    return views.community(community, None)


async def user_name(session: AsyncSession, user_id: str) -> str | None:
    return (await session.execute(select(User.name).where(User.id == user_id))).scalar_one_or_none()


async def members(session: AsyncSession, community_id: str, user_id: str, query: MembersQuery) -> dict[str, Any]:
    """Members in the order they joined: members may list them, and with `member_list: public`
    whoever may read the community (others: 403 `not_member`)."""
    community, member = await require_reader(session, community_id, user_id)
    if member is None and community.member_list != "public":
        raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community can list its members")
    stmt = (
        select(Membership, User.name)
        .join(User, User.id == Membership.user_id)
        .where(Membership.community_id == community_id)
    )
    if query.role:
        stmt = stmt.where(Membership.role == query.role)
    key = cursors.decode(query.cursor, str, str)
    if key is not None:
        since, last_uid = key
        joined = cursors.time_of(since)
        stmt = stmt.where(
            or_(
                Membership.joined_at > joined,
                and_(Membership.joined_at == joined, Membership.user_id > last_uid),
            )
        )
    stmt = stmt.order_by(Membership.joined_at, Membership.user_id).limit(query.limit + 1)
    rows = (await session.execute(stmt)).all()
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1][0]
        next_cursor = cursors.encode(last.joined_at.isoformat(), last.user_id)
    return {"items": [views.membership(m, name) for m, name in page], "next_cursor": next_cursor}


async def change_role(
    session: AsyncSession, community_id: str, actor_id: str, target_id: str, role: str
) -> dict[str, Any]:
    """Owner: any role but owner; admins: moderator/member, on people they outrank."""
    await lock_community(session, community_id)
    _community, actor = await require_role(session, community_id, actor_id, Role.ADMIN)
    target = await membership(session, community_id, target_id)
    if target is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such member")
    check_role_change(Role(actor.role), Role(target.role), Role(role))
    target.role = role
    return views.membership(target, await user_name(session, target_id))


async def transfer_ownership(
    session: AsyncSession, community_id: str, owner_id: str, new_owner_id: str, *, limit: int
) -> dict[str, Any]:
    """The owner hands the community to another member, and becomes an admin."""
    await lock_community(session, community_id)  # two racing handovers cannot make two owners
    community, owner = await require_role(session, community_id, owner_id, Role.OWNER)
    if new_owner_id == owner_id:
        raise ApiError(ErrorCode.CONFLICT, "you already own this community")
    target = await membership(session, community_id, new_owner_id)
    if target is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such member")
    await lock_user(session, new_owner_id)
    await check_owner_limit(session, new_owner_id, limit)
    target.role = Role.OWNER.value
    owner.role = Role.ADMIN.value
    community.owner_id = new_owner_id
    return views.community(community, Role.ADMIN.value)
