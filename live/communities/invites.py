"""Invitations (single-use codes with a per-member quota) and join requests.

Quota rules are in `quota.py`; here they are conditional UPDATEs, so two concurrent invites by a
member with one invitation left cannot both succeed, and a give-back never passes the grant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities import views
from live.communities.access import Role, load_community, membership, require_member, require_role
from live.communities.guards import check_not_banned
from live.communities.models import Invite, JoinRequest, Membership
from live.communities.quota import spends_quota
from live.communities.schemas import JoinRequestsQuery, Page
from live.communities.service import add_member, lock_user, user_name
from live.errors import ApiError, ErrorCode, not_found
from live.http import cursors
from live.moderation.sanctions import BAN, active_sanction
from live.safety.blocks import check_not_blocked
from live.storage.base import utcnow
from live.storage.ids import new_code, new_id


async def create_invite(
    session: AsyncSession, community_id: str, user_id: str, *, ttl_seconds: int
) -> dict[str, Any]:
    await check_not_banned(session, community_id, user_id)
    _, member = await require_member(session, community_id, user_id)
    spend = spends_quota(Role(member.role))
    left: int | None = None
    if spend:
        result = await session.execute(
            update(Membership)
            .where(
                Membership.community_id == community_id,
                Membership.user_id == user_id,
                Membership.invites_left > 0,
            )
            .values(invites_left=Membership.invites_left - 1)
            .returning(Membership.invites_left)
        )
        row = result.first()
        if row is None:
            raise ApiError(ErrorCode.INVITE_QUOTA_EXHAUSTED, "you have no invitations left")
        left = int(row[0])
    now = utcnow()
    invite = Invite(
        code=new_code(),
        community_id=community_id,
        created_by=user_id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_seconds),
        quota_spent=spend,
    )
    session.add(invite)
    return views.invite(invite, left)


async def accept_invite(session: AsyncSession, code: str, user_id: str, *, invite_quota: int) -> dict[str, Any]:
    """Use an invite: 200 membership. The row lock makes concurrent accepts of one code single-use."""
    invite = (
        await session.execute(select(Invite).where(Invite.code == code).with_for_update())
    ).scalar_one_or_none()
    if invite is None:
        raise not_found("invite")
    await load_community(session, invite.community_id)
    _check_usable(invite)
    if await active_sanction(session, invite.community_id, invite.created_by, BAN) is not None:
        # Revoked with the ban (`revoke_invites_of`); this also covers codes from before that rule.
        raise ApiError(ErrorCode.INVITE_INVALID, "this invite was revoked: the member who made it is banned here")
    await check_not_banned(session, invite.community_id, user_id)
    await check_not_blocked(session, invite.created_by, user_id, "this invite")
    member = await add_member(
        session, invite.community_id, user_id, invites_left=invite_quota, invited_by=invite.created_by
    )
    invite.used_by = user_id
    invite.used_at = utcnow()
    return views.membership(member, await user_name(session, user_id))


def _check_usable(invite: Invite) -> None:
    if invite.revoked_at is not None:
        raise ApiError(ErrorCode.INVITE_INVALID, "this invite was revoked")
    if invite.used_by is not None:
        raise ApiError(ErrorCode.INVITE_INVALID, "this invite was already used")
    if invite.expires_at <= utcnow():
        raise ApiError(ErrorCode.INVITE_INVALID, "this invite has expired")


async def revoke_invite(session: AsyncSession, code: str, user_id: str, *, invite_quota: int) -> dict[str, Any]:
    """The creator (or a moderator and up) revokes an unused invite; a spent invitation comes back."""
    invite = (
        await session.execute(select(Invite).where(Invite.code == code).with_for_update())
    ).scalar_one_or_none()
    if invite is None:
        raise not_found("invite")
    await load_community(session, invite.community_id)
    if invite.created_by != user_id:
        member = await membership(session, invite.community_id, user_id)
        if member is None or not Role(member.role).at_least(Role.MODERATOR):
            raise not_found("invite")  # someone else's code is not revealed
    if invite.revoked_at is not None or invite.used_by is not None:
        raise ApiError(ErrorCode.INVITE_INVALID, "this invite was already used or revoked")
    invite.revoked_at = utcnow()
    left: int | None = None
    if invite.quota_spent:
        # Give back, never past the grant (and only while the creator is still a member).
        await session.execute(
            update(Membership)
            .where(
                Membership.community_id == invite.community_id,
                Membership.user_id == invite.created_by,
                Membership.invites_left < invite_quota,
            )
            .values(invites_left=Membership.invites_left + 1)
        )
    creator = await session.execute(
        select(Membership.role, Membership.invites_left).where(
            Membership.community_id == invite.community_id, Membership.user_id == invite.created_by
        ).execution_options(populate_existing=True)
    )
    row = creator.first()
    if row is not None and row[0] == Role.MEMBER.value:
        left = int(row[1])
    return views.invite(invite, left)


async def revoke_invites_of(session: AsyncSession, community_id: str, user_id: str) -> int:
    """Revoke every unused invite `user_id` made in the community; how many. A ban takes the
    banned member's invitations with it: nobody gets in on the word of someone thrown out."""
    result = await session.execute(
        update(Invite)
        .where(
            Invite.community_id == community_id,
            Invite.created_by == user_id,
            Invite.used_by.is_(None),
            Invite.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .returning(Invite.code)
    )
    return len(result.all())


async def list_invites(session: AsyncSession, community_id: str, user_id: str, query: Page) -> dict[str, Any]:
    """Invites newest first: your own, or every invite for moderators and up."""
    _, member = await require_member(session, community_id, user_id)
    stmt = select(Invite).where(Invite.community_id == community_id)
    if not Role(member.role).at_least(Role.MODERATOR):
        stmt = stmt.where(Invite.created_by == user_id)
    key = cursors.decode(query.cursor, str, str)
    if key is not None:
        created, code = key
        when = cursors.time_of(created)
        stmt = stmt.where((Invite.created_at < when) | and_(Invite.created_at == when, Invite.code < code))
    stmt = stmt.order_by(Invite.created_at.desc(), Invite.code.desc()).limit(query.limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    page = rows[: query.limit]
    left = member.invites_left if member.role == Role.MEMBER.value else None
    nxt = cursors.encode(page[-1].created_at.isoformat(), page[-1].code) if len(rows) > query.limit else None
    return {"items": [views.invite(i, left) for i in page], "next_cursor": nxt}


# -- join requests ------------------------------------------------------------------------------


async def request_to_join(session: AsyncSession, community_id: str, user_id: str, message: str) -> dict[str, Any]:
    community = await load_community(session, community_id)
    await check_not_banned(session, community_id, user_id)
    await lock_user(session, user_id)  # one pending request per person, even when racing
    if await membership(session, community_id, user_id) is not None:
        raise ApiError(ErrorCode.CONFLICT, "already a member of this community")
    if community.join_policy == "open":
        raise ApiError(ErrorCode.CONFLICT, "this community is open: join it directly")
    pending = await session.execute(
        select(JoinRequest.id).where(
            JoinRequest.community_id == community_id,
            JoinRequest.user_id == user_id,
            JoinRequest.status == "pending",
        )
    )
    if pending.first() is not None:
        raise ApiError(ErrorCode.CONFLICT, "you already have a pending request here")
    request = JoinRequest(
        id=new_id(), community_id=community_id, user_id=user_id, message=message,
        status="pending", created_at=utcnow(),
    )
    session.add(request)
    return views.join_request(request)


async def list_requests(
    session: AsyncSession, community_id: str, user_id: str, query: JoinRequestsQuery
) -> dict[str, Any]:
    """Requests oldest first (moderators and up)."""
    await require_role(session, community_id, user_id, Role.MODERATOR)
    stmt = select(JoinRequest).where(
        JoinRequest.community_id == community_id, JoinRequest.status == query.status
    )
    key = cursors.decode(query.cursor, str)
    if key is not None:
        stmt = stmt.where(JoinRequest.id > key[0])
    rows = list((await session.execute(stmt.order_by(JoinRequest.id).limit(query.limit + 1))).scalars())
    page = rows[: query.limit]
    nxt = cursors.encode(page[-1].id) if len(rows) > query.limit else None
    return {"items": [views.join_request(r) for r in page], "next_cursor": nxt}


async def get_request(session: AsyncSession, request_id: str, user_id: str) -> dict[str, Any]:
    """The requester sees their own request (and its outcome); moderators and up see any."""
    request = await session.get(JoinRequest, request_id)
    if request is None:
        raise not_found("join request")
    if request.user_id != user_id:
        await load_community(session, request.community_id)
        member = await membership(session, request.community_id, user_id)
        if member is None or not Role(member.role).at_least(Role.MODERATOR):
            raise not_found("join request")
    return views.join_request(request)


async def decide(
    session: AsyncSession, request_id: str, user_id: str, *, approve: bool, invite_quota: int
) -> dict[str, Any]:
    request = (
        await session.execute(select(JoinRequest).where(JoinRequest.id == request_id).with_for_update())
    ).scalar_one_or_none()
    if request is None:
        raise not_found("join request")
    await load_community(session, request.community_id)
    member = await membership(session, request.community_id, user_id)
    if member is None:
        raise not_found("join request")
    if not Role(member.role).at_least(Role.MODERATOR):
        raise ApiError(ErrorCode.FORBIDDEN, "this needs the moderator role or higher")
    if request.status != "pending":
        raise ApiError(ErrorCode.CONFLICT, f"this request was already {request.status}")
    if approve:
        await check_not_banned(session, request.community_id, request.user_id)
        if await membership(session, request.community_id, request.user_id) is None:
            await add_member(session, request.community_id, request.user_id,
                             invites_left=invite_quota, invited_by=None)
    request.status = "approved" if approve else "rejected"
    request.decided_by = user_id
    request.decided_at = utcnow()
    return views.join_request(request)
