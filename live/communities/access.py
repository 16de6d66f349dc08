"""Who may do what in a community: roles, ranks, and the checks every domain shares.

The gateway, moderation, posts and live sessions all ask these questions; they are answered
here once. Errors follow the contract: an unreadable community is `not_found` (its existence is
not revealed), a write without membership is `not_member`, a role too weak is `forbidden`.
"""

from __future__ import annotations

import enum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.models import Community, GroupMember, Membership
from live.errors import ApiError, ErrorCode, not_found


class Role(str, enum.Enum):
    OWNER = "owner"
    ADMIN = "admin"
    MODERATOR = "moderator"
    MEMBER = "member"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    def outranks(self, other: Role) -> bool:
        """Strictly stronger: nobody acts on someone of equal or higher rank."""
        return self.rank > other.rank


_RANK = {Role.OWNER: 4, Role.ADMIN: 3, Role.MODERATOR: 2, Role.MEMBER: 1}


async def load_community(session: AsyncSession, community_id: str, *, for_update: bool = False) -> Community:
    """The community, or 404 `not_found` (also for deleted ones)."""
    stmt = select(Community).where(Community.id == community_id, Community.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    community = (await session.execute(stmt)).scalar_one_or_none()
    if community is None:
        raise not_found("community")
    return community


async def membership(session: AsyncSession, community_id: str, user_id: str) -> Membership | None:
    return await session.get(Membership, (community_id, user_id))


def role_of(member: Membership | None) -> Role | None:
    return Role(member.role) if member is not None else None


async def require_reader(
    session: AsyncSession, community_id: str, user_id: str
) -> tuple[Community, Membership | None]:
    """Reading: anyone signed in for `public`, members only for `members` (else 404)."""
    community = await load_community(session, community_id)
    member = await membership(session, community_id, user_id)
    reader_allowed(community, member)
    return community, member


def reader_allowed(community: Community, member: Membership | None) -> None:
    """`require_reader`'s rule on what was read: a `members` community hides from others (404)."""
    if community.read_policy != "public" and member is None:
        raise not_found("community")


async def require_member(
    session: AsyncSession, community_id: str, user_id: str
) -> tuple[Community, Membership]:
    """Any write: the caller must be a member (403 `not_member`)."""
    community, member = await require_reader(session, community_id, user_id)
    if member is None:
        raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community can do that")
    return community, member


async def require_role(
    session: AsyncSession, community_id: str, user_id: str, at_least: Role
) -> tuple[Community, Membership]:
    """A staff action: the caller's role must be `at_least` (403 `forbidden`)."""
    community, member = await require_member(session, community_id, user_id)
    if not Role(member.role).at_least(at_least):
        raise ApiError(ErrorCode.FORBIDDEN, f"this needs the {at_least.value} role or higher")
    return community, member


async def is_group_member(session: AsyncSession, group_id: str, user_id: str) -> bool:
    return await session.get(GroupMember, (group_id, user_id)) is not None
