"""Groups under a community (each with a chat room `group:{gid}`) and announcements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities import views
from live.communities.access import Role, load_community, membership, require_member, require_reader, require_role
from live.communities.guards import check_not_banned
from live.communities.models import Announcement, AnnouncementTarget, Group, GroupMember
from live.communities.schemas import AnnouncementCreate, GroupCreate, GroupPatch, Page
from live.communities.sql import insert_if_absent
from live.communities.text import ANNOUNCEMENT_MAX, check_text
from live.errors import ApiError, ErrorCode, invalid, not_found
from live.http import cursors
from live.storage.base import utcnow
from live.storage.ids import new_id


async def _group_view(session: AsyncSession, group: Group, user_id: str) -> dict[str, Any]:
    count = (
        await session.execute(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id))
    ).scalar_one()
    joined = await session.get(GroupMember, (group.id, user_id)) is not None
    return views.group(group, int(count), joined)


async def create_group(session: AsyncSession, community_id: str, user_id: str, body: GroupCreate) -> dict[str, Any]:
    await require_role(session, community_id, user_id, Role.ADMIN)
    group = Group(
        id=new_id(), community_id=community_id, name=body.name, description=body.description,
        created_by=user_id, created_at=utcnow(),
    )
    session.add(group)
    return views.group(group, 0, False)


async def list_groups(session: AsyncSession, community_id: str, user_id: str, archived: bool) -> dict[str, Any]:
    """Every group of a community the caller may read (archived ones with `archived=true`)."""
    await require_reader(session, community_id, user_id)
    counts = (
        select(GroupMember.group_id, func.count().label("n")).group_by(GroupMember.group_id).subquery()
    )
    mine = exists().where(GroupMember.group_id == Group.id, GroupMember.user_id == user_id)
    stmt = (
        select(Group, func.coalesce(counts.c.n, 0), mine)
        .outerjoin(counts, counts.c.group_id == Group.id)
        .where(Group.community_id == community_id)
        .where(Group.archived_at.is_not(None) if archived else Group.archived_at.is_(None))
        .order_by(Group.id)
    )
    rows = (await session.execute(stmt)).all()
    return {"items": [views.group(g, int(n), bool(joined)) for g, n, joined in rows]}


async def _load_group(session: AsyncSession, group_id: str, user_id: str) -> Group:
    """The group, or 404 when it does not exist or its community is unreadable to the caller."""
    group = await session.get(Group, group_id)
    if group is None:
        raise not_found("group")
    await require_reader(session, group.community_id, user_id)
    return group


async def get_group(session: AsyncSession, group_id: str, user_id: str) -> dict[str, Any]:
    return await _group_view(session, await _load_group(session, group_id, user_id), user_id)


async def patch_group(session: AsyncSession, group_id: str, user_id: str, body: GroupPatch) -> dict[str, Any]:
    """Rename, re-describe, archive or unarchive (admins)."""
    group = await _load_group(session, group_id, user_id)
    await require_role(session, group.community_id, user_id, Role.ADMIN)
    changes = body.model_dump(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise invalid({k: "must not be null" for k in nulls})
    if "name" in changes:
        group.name = changes["name"]
    if "description" in changes:
        group.description = changes["description"]
    if "archived" in changes:
        if changes["archived"] and group.archived_at is None:
            group.archived_at = utcnow()
        elif not changes["archived"]:
            group.archived_at = None
    return await _group_view(session, group, user_id)


async def join_group(session: AsyncSession, group_id: str, user_id: str) -> dict[str, Any]:
    group = await _load_group(session, group_id, user_id)
    await check_not_banned(session, group.community_id, user_id)
    await require_member(session, group.community_id, user_id)
    if group.archived_at is not None:
        raise ApiError(ErrorCode.CONFLICT, "this group is archived")
    if not await insert_if_absent(
        session, GroupMember, {"group_id": group_id, "user_id": user_id, "joined_at": utcnow()}
    ):
        raise ApiError(ErrorCode.CONFLICT, "already in this group")
    return await _group_view(session, group, user_id)


async def leave_group(session: AsyncSession, group_id: str, user_id: str) -> dict[str, Any]:
    group = await _load_group(session, group_id, user_id)
    await require_member(session, group.community_id, user_id)
    row = await session.get(GroupMember, (group_id, user_id))
    if row is None:
        raise ApiError(ErrorCode.CONFLICT, "not in this group")
    await session.delete(row)
    await session.flush()
    return await _group_view(session, group, user_id)


async def remove_from_group(session: AsyncSession, group_id: str, actor_id: str, target_id: str) -> dict[str, Any]:
    """Take someone out of a group (admins and up, on people they outrank; oneself: leaving)."""
    if target_id == actor_id:
        return await leave_group(session, group_id, actor_id)
    group = await _load_group(session, group_id, actor_id)
    _, actor = await require_role(session, group.community_id, actor_id, Role.ADMIN)
    target = await membership(session, group.community_id, target_id)
    if target is not None and not Role(actor.role).outranks(Role(target.role)):
        raise ApiError(ErrorCode.FORBIDDEN, "nobody removes someone of equal or higher rank from a group")
    row = await session.get(GroupMember, (group_id, target_id))
    if row is None:
        raise ApiError(ErrorCode.CONFLICT, "not in this group")
    await session.delete(row)
    await session.flush()
    return await _group_view(session, group, actor_id)


# -- announcements ------------------------------------------------------------------------------


async def announce(
    session: AsyncSession, community_id: str, user_id: str, body: AnnouncementCreate
) -> dict[str, Any]:
    """Store an announcement (admins) to everyone or to the named groups of this community."""
    await require_role(session, community_id, user_id, Role.ADMIN)
    text = check_text(body.text, ANNOUNCEMENT_MAX)
    group_ids = list(dict.fromkeys(body.group_ids))
    if group_ids:
        found = set(
            (
                await session.execute(
                    select(Group.id).where(
                        Group.id.in_(group_ids), Group.community_id == community_id, Group.archived_at.is_(None)
                    )
                )
            ).scalars()
        )
        missing = [g for g in group_ids if g not in found]
        if missing:
            raise invalid({"group_ids": f"no such open group in this community: {', '.join(missing)}"})
    item = Announcement(
        id=new_id(), community_id=community_id, author_id=user_id, text=text,
        group_ids=group_ids, created_at=utcnow(),
    )
    session.add(item)
    await session.flush()
    session.add_all(AnnouncementTarget(announcement_id=item.id, group_id=g) for g in group_ids)
    return views.announcement(item)


async def list_announcements(session: AsyncSession, community_id: str, user_id: str, query: Page) -> dict[str, Any]:
    """Newest first: those for everyone, plus those for the caller's groups (admins see all)."""
    _community, member = await require_reader(session, community_id, user_id)
    stmt = select(Announcement).where(Announcement.community_id == community_id)
    if member is None or not Role(member.role).at_least(Role.ADMIN):
        targeted = exists().where(AnnouncementTarget.announcement_id == Announcement.id)
        for_me = exists().where(
            AnnouncementTarget.announcement_id == Announcement.id,
            AnnouncementTarget.group_id.in_(select(GroupMember.group_id).where(GroupMember.user_id == user_id)),
        )
        stmt = stmt.where(or_(~targeted, for_me))
    key = cursors.decode(query.cursor, str)
    if key is not None:
        stmt = stmt.where(Announcement.id < key[0])
    rows = list((await session.execute(stmt.order_by(Announcement.id.desc()).limit(query.limit + 1))).scalars())
    page = rows[: query.limit]
    nxt = cursors.encode(page[-1].id) if len(rows) > query.limit else None
    return {"items": [views.announcement(a) for a in page], "next_cursor": nxt}


async def is_member_of_group(session: AsyncSession, group_id: str, user_id: str) -> bool:
    """Whether `user_id` may be in the `group:{gid}` room: in the group and in its community."""
    group = await session.get(Group, group_id)
    if group is None:
        return False
    try:
        await load_community(session, group.community_id)
    except ApiError:
        return False
    return (
        await membership(session, group.community_id, user_id) is not None
        and await session.get(GroupMember, (group_id, user_id)) is not None
    )
