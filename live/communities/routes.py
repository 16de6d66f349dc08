"""HTTP endpoints: communities, members and roles, invitations, join requests.

Handlers are thin: open a session, call the service, return what it returns. Groups,
announcements and posts are in `routes_social.py`.
"""

from __future__ import annotations

from typing import Any

from live.communities import invites, service, wire
from live.communities.access import load_community
from live.communities.params import path_id
from live.communities.schemas import (
    CommunityCreate,
    CommunityPatch,
    Discover,
    InviteCreate,
    JoinRequestCreate,
    JoinRequestsQuery,
    MembersQuery,
    OwnershipTransfer,
    Page,
    RoleChange,
)
from live.errors import ErrorCode as E
from live.events import revoke_access
from live.http.api import Api, Ctx
from live.services import Services

api: Api[Services] = Api("communities")

READ = [E.NOT_FOUND]
WRITE = [E.NOT_FOUND, E.NOT_MEMBER, E.FORBIDDEN]


async def _membership_changed(services: Services, community_id: str, user_id: str, role: str | None) -> None:
    """Someone joined, left or changed role: tell whoever listens.

    The "membership.changed" event {community_id, user_id, role}: this node's chat service drops
    the roles and sanctions it caches for the user.
    """
    await services.events.emit(
        "membership.changed", {"community_id": community_id, "user_id": user_id, "role": role}
    )


@api.post("/v1/communities", response=wire.CommunityOut, body=CommunityCreate, status=201, errors=[E.COMMUNITY_LIMIT])
async def create_community(ctx: Ctx[Services, CommunityCreate, None]) -> dict[str, Any]:
    """Create a community; the creator becomes its owner (at most `LIVE_COMMUNITY_LIMIT` owned)."""
    s = ctx.services.settings
    async with ctx.services.db.session() as session:
        return await service.create(
            session, ctx.user.id, ctx.body, limit=s.community_limit, invite_quota=s.invite_quota
        )


@api.get("/v1/communities", response=wire.CommunityPage, query=Discover)
async def discover_communities(ctx: Ctx[Services, None, Discover]) -> dict[str, Any]:
    """Discover communities: `q` words in name/description, `topic`, most members first."""
    async with ctx.services.db.session() as session:
        return await service.discover(session, ctx.user.id, ctx.query)


@api.get("/v1/communities/{cid}", response=wire.CommunityOut, errors=READ)
async def get_community(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """One community, with the caller's `my_role` (null when not a member)."""
    async with ctx.services.db.session() as session:
        return await service.get(session, path_id(ctx, "cid"), ctx.user.id)


@api.patch("/v1/communities/{cid}", response=wire.CommunityOut, body=CommunityPatch, errors=WRITE)
async def patch_community(ctx: Ctx[Services, CommunityPatch, None]) -> dict[str, Any]:
    """Edit a community (admins): name, description, topics, policies, slow mode, blocked words, rules.

    Turning it members-only takes every non-member out of its rooms at once, on every node.
    """
    cid = path_id(ctx, "cid")
    async with ctx.services.db.session() as session:
        before = (await load_community(session, cid)).read_policy
        result = await service.patch(session, cid, ctx.user.id, ctx.body)
    if before == "public" and result["read_policy"] != "public":
        await revoke_access(ctx.services.events, community_id=cid, reason="members_only")
    return result


@api.delete("/v1/communities/{cid}", status=204, errors=WRITE)
async def delete_community(ctx: Ctx[Services, None, None]) -> None:
    """Delete a community (owner); everyone in its rooms is taken out of them."""
    cid = path_id(ctx, "cid")
    async with ctx.services.db.session() as session:
        await service.remove(session, cid, ctx.user.id)
    await revoke_access(ctx.services.events, community_id=cid, reason="deleted")


@api.post("/v1/communities/{cid}/join", response=wire.MembershipOut,
          errors=[E.NOT_FOUND, E.INVITE_REQUIRED, E.BANNED, E.CONFLICT])
async def join_community(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Join an open community (invite-only ones answer 403 `invite_required`)."""
    cid = path_id(ctx, "cid")
    async with ctx.services.db.session() as session:
        result = await service.join(session, cid, ctx.user.id, invite_quota=ctx.services.settings.invite_quota)
    await _membership_changed(ctx.services, cid, ctx.user.id, result["role"])
    await ctx.services.events.emit("member.joined", dict(result, via="join"))
    return result


@api.post("/v1/communities/{cid}/leave", response=wire.CommunityOut,
          errors=[E.NOT_FOUND, E.NOT_MEMBER, E.CONFLICT])
async def leave_community(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Leave a community (the owner hands over ownership first); returns the community.

    The leaver is taken out of the rooms they may no longer be in (its groups' rooms; every room
    of a members-only community) at once, on every node.
    """
    cid = path_id(ctx, "cid")
    async with ctx.services.db.session() as session:
        result = await service.leave(session, cid, ctx.user.id)
    await _membership_changed(ctx.services, cid, ctx.user.id, None)
    await revoke_access(ctx.services.events, community_id=cid, user_id=ctx.user.id, reason="left")
    return result


@api.get("/v1/communities/{cid}/members", response=wire.MembershipPage, query=MembersQuery, errors=READ)
async def list_members(ctx: Ctx[Services, None, MembersQuery]) -> dict[str, Any]:
    """Members in the order they joined, optionally one `role`; `invited_by` says who invited whom."""
    async with ctx.services.db.session() as session:
        return await service.members(session, path_id(ctx, "cid"), ctx.user.id, ctx.query)


@api.patch("/v1/communities/{cid}/members/{uid}", response=wire.MembershipOut, body=RoleChange, errors=WRITE)
async def change_member_role(ctx: Ctx[Services, RoleChange, None]) -> dict[str, Any]:
    """Change a member's role: the owner gives any role but owner; admins give moderator or member."""
    cid, uid = path_id(ctx, "cid"), path_id(ctx, "uid")
    async with ctx.services.db.session() as session:
        result = await service.change_role(session, cid, ctx.user.id, uid, ctx.body.role)
    await _membership_changed(ctx.services, cid, uid, result["role"])
    return result


@api.post("/v1/communities/{cid}/transfer", response=wire.CommunityOut, body=OwnershipTransfer,
          errors=[*WRITE, E.CONFLICT, E.COMMUNITY_LIMIT])
async def transfer_ownership(ctx: Ctx[Services, OwnershipTransfer, None]) -> dict[str, Any]:
    """Hand the community to another member (owner); the previous owner becomes an admin."""
    cid = path_id(ctx, "cid")
    async with ctx.services.db.session() as session:
        result = await service.transfer_ownership(
            session, cid, ctx.user.id, ctx.body.user_id, limit=ctx.services.settings.community_limit
        )
    await _membership_changed(ctx.services, cid, ctx.user.id, "admin")
    await _membership_changed(ctx.services, cid, ctx.body.user_id, "owner")
    return result


# -- invitations --------------------------------------------------------------------------------


@api.post("/v1/communities/{cid}/invites", response=wire.InviteOut, body=InviteCreate, status=201,
          errors=[*WRITE, E.INVITE_QUOTA_EXHAUSTED])
async def create_invite(ctx: Ctx[Services, InviteCreate, None]) -> dict[str, Any]:
    """Create a single-use invite code (members spend one invitation; staff have no quota)."""
    async with ctx.services.db.session() as session:
        return await invites.create_invite(
            session, path_id(ctx, "cid"), ctx.user.id, ttl_seconds=ctx.services.settings.invite_ttl_seconds
        )


@api.get("/v1/communities/{cid}/invites", response=wire.InvitePage, query=Page, errors=WRITE)
async def list_invites(ctx: Ctx[Services, None, Page]) -> dict[str, Any]:
    """Invites newest first: your own, or all of them for moderators and up."""
    async with ctx.services.db.session() as session:
        return await invites.list_invites(session, path_id(ctx, "cid"), ctx.user.id, ctx.query)


@api.post("/v1/invites/{code}/accept", response=wire.MembershipOut,
          errors=[E.NOT_FOUND, E.INVITE_INVALID, E.BANNED, E.CONFLICT])
async def accept_invite(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Join with an invite code (single use; 410 `invite_invalid` when expired, used or revoked)."""
    async with ctx.services.db.session() as session:
        result = await invites.accept_invite(
            session, path_id(ctx, "code"), ctx.user.id, invite_quota=ctx.services.settings.invite_quota
        )
    await _membership_changed(ctx.services, result["community_id"], ctx.user.id, result["role"])
    await ctx.services.events.emit("member.joined", dict(result, via="invite"))
    return result


@api.delete("/v1/invites/{code}", response=wire.InviteOut, errors=[E.NOT_FOUND, E.INVITE_INVALID])
async def revoke_invite(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Revoke an unused invite (its creator, or moderators and up); a spent invitation comes back."""
    async with ctx.services.db.session() as session:
        return await invites.revoke_invite(
            session, path_id(ctx, "code"), ctx.user.id, invite_quota=ctx.services.settings.invite_quota
        )


# -- join requests ------------------------------------------------------------------------------


@api.post("/v1/communities/{cid}/join-requests", response=wire.JoinRequestOut, body=JoinRequestCreate, status=201,
          errors=[E.NOT_FOUND, E.BANNED, E.CONFLICT])
async def create_join_request(ctx: Ctx[Services, JoinRequestCreate, None]) -> dict[str, Any]:
    """Ask to join an invite-only community, with an optional message."""
    async with ctx.services.db.session() as session:
        return await invites.request_to_join(session, path_id(ctx, "cid"), ctx.user.id, ctx.body.message)


@api.get("/v1/communities/{cid}/join-requests", response=wire.JoinRequestPage, query=JoinRequestsQuery, errors=WRITE)
async def list_join_requests(ctx: Ctx[Services, None, JoinRequestsQuery]) -> dict[str, Any]:
    """Join requests, oldest first, by `status` (moderators and up)."""
    async with ctx.services.db.session() as session:
        return await invites.list_requests(session, path_id(ctx, "cid"), ctx.user.id, ctx.query)


@api.get("/v1/join-requests/{rid}", response=wire.JoinRequestOut, errors=READ)
async def get_join_request(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """One join request and its outcome (the requester, or moderators and up)."""
    async with ctx.services.db.session() as session:
        return await invites.get_request(session, path_id(ctx, "rid"), ctx.user.id)


async def _decide(ctx: Ctx[Services, None, None], approve: bool) -> dict[str, Any]:
    async with ctx.services.db.session() as session:
        result = await invites.decide(
            session, path_id(ctx, "rid"), ctx.user.id, approve=approve,
            invite_quota=ctx.services.settings.invite_quota,
        )
    if approve:
        await _membership_changed(ctx.services, result["community_id"], result["user_id"], "member")
        await ctx.services.events.emit("member.joined", {
            "community_id": result["community_id"], "user_id": result["user_id"], "role": "member",
            "via": "join_request",
        })
    await ctx.services.events.emit("join_request.decided", result)
    return result


@api.post("/v1/join-requests/{rid}/approve", response=wire.JoinRequestOut, errors=[*WRITE, E.CONFLICT, E.BANNED])
async def approve_join_request(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Approve a pending request (moderators and up): the requester becomes a member."""
    return await _decide(ctx, True)


@api.post("/v1/join-requests/{rid}/reject", response=wire.JoinRequestOut, errors=[*WRITE, E.CONFLICT])
async def reject_join_request(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Reject a pending request (moderators and up)."""
    return await _decide(ctx, False)
