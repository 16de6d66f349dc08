"""Moderation actions: check, apply, record; and the member-visible log.

One action is one transaction: the rank rule, the sanction row, the membership removal or the
soft delete, and the log entry commit together. The caller emits the "moderation.action" event
after the commit, so whoever reacts (the gateway closing sockets, chat dropping caches) reads
the new state.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.auth.tokens import Principal
from live.communities.access import Role, membership, require_reader, require_role, role_of
from live.communities.invites import revoke_invites_of
from live.communities.models import Comment, Post
from live.communities.service import remove_member
from live.errors import ApiError, ErrorCode, not_found
from live.moderation import messages, paging, rules, sanctions
from live.moderation.models import ModerationAction, Sanction
from live.storage.base import iso, utcnow
from live.storage.ids import new_id
from live.storage.models import User

EVENT = "moderation.action"


@dataclasses.dataclass(frozen=True)
class ActionRequest:
    action: str
    user_id: str | None
    target_type: str | None
    target_id: str | None
    duration_seconds: int | None
    reason: str


async def take_action(
    session: AsyncSession, community_id: str, actor: Principal, req: ActionRequest
) -> ModerationAction:
    """Apply one action for `actor` (moderators and up) and record it in the log."""
    _community, actor_member = await require_role(session, community_id, actor.id, Role.MODERATOR)
    actor_role = Role(actor_member.role)
    spec = rules.validate(req.action, req.user_id, req.target_type, req.duration_seconds)
    now = utcnow()
    until = rules.expiry(now, req.duration_seconds)
    affected = req.user_id

    if spec.needs_user:
        assert req.user_id is not None
        if await session.get(User, req.user_id) is None:
            raise not_found("user")
        target_member = await membership(session, community_id, req.user_id)
        rules.check_rank(actor_role, role_of(target_member))
        if spec.lifts is not None and not await sanctions.lift(session, community_id, req.user_id, spec.lifts):
            state = {"ban": "banned", "mute": "muted"}[spec.lifts]
            raise ApiError(ErrorCode.CONFLICT, f"{req.user_id} is not {state} here")
        if req.action == "kick" and target_member is None:
            raise ApiError(ErrorCode.CONFLICT, f"{req.user_id} is not a member of this community")
    else:
        affected = await _delete_target(session, community_id, actor, actor_role, req)

    record = ModerationAction(
        id=new_id(),
        community_id=community_id,
        action=req.action,
        user_id=affected,
        target_type=req.target_type,
        target_id=req.target_id,
        reason=req.reason,
        duration_seconds=req.duration_seconds,
        expires_at=until,
        moderator_id=actor.id,
        moderator_role=actor_role.value,
        created_at=now,
    )
    session.add(record)
    await session.flush()
    if spec.sanction is not None and affected is not None:
        await sanctions.impose(session, community_id, affected, spec.sanction, until, record.id)
        if spec.sanction == sanctions.BAN:
            await revoke_invites_of(session, community_id, affected)
    if spec.removes_membership and affected is not None:
        await remove_member(session, community_id, affected)
    return record


async def _delete_target(
    session: AsyncSession, community_id: str, actor: Principal, actor_role: Role, req: ActionRequest
) -> str | None:
    """Soft-delete a post or comment of this community; returns its author (the affected user).

    Chat messages live in the chat service: the "moderation.action" event carries the target and
    the chat service deletes the message and tells the room. Here the message is only found, to
    check it is this community's and to name its author (in a build without chat, the user the
    request names, if any).
    """
    assert req.target_id is not None
    if req.target_type == "post":
        post = await session.get(Post, req.target_id)
        if post is None or post.community_id != community_id or post.deleted_at is not None:
            raise not_found("post")
        await _check_author_rank(session, community_id, actor, actor_role, post.author_id)
        post.deleted_at = utcnow()
        return post.author_id
    if req.target_type == "comment":
        comment = await session.get(Comment, req.target_id)
        post = await session.get(Post, comment.post_id) if comment is not None else None
        if comment is None or post is None or post.community_id != community_id or comment.deleted_at is not None:
            raise not_found("comment")
        await _check_author_rank(session, community_id, actor, actor_role, comment.author_id)
        comment.deleted_at = utcnow()
        await session.execute(
            update(Post)
            .where(Post.id == post.id, Post.comment_count > 0)
            .values(comment_count=Post.comment_count - 1)
        )
        return comment.author_id
    author = await messages.message_author(session, community_id, req.target_id) or req.user_id
    if author is not None:
        if await session.get(User, author) is None:
            raise not_found("user")
        await _check_author_rank(session, community_id, actor, actor_role, author)
    return author


async def _check_author_rank(
    session: AsyncSession, community_id: str, actor: Principal, actor_role: Role, author_id: str
) -> None:
    # Removing one's own content is always allowed; anyone else's follows the rank rule.
    if author_id != actor.id:
        rules.check_rank(actor_role, role_of(await membership(session, community_id, author_id)))


def target_of(a: ModerationAction) -> dict[str, str] | None:
    """What the action was about: the content it deleted, else the user it hit."""
    if a.target_type is not None and a.target_id is not None:
        return {"type": a.target_type, "id": a.target_id}
    if a.user_id is not None:
        return {"type": "user", "id": a.user_id}
    return None


def view(a: ModerationAction, *, user_name: str | None = None, show_moderator: bool) -> dict[str, Any]:
    """A log entry. The moderator's id is shown to staff and to no one else: members see the role."""
    out: dict[str, Any] = {
        "id": a.id,
        "community_id": a.community_id,
        "action": a.action,
        "target": target_of(a),
        "user_id": a.user_id,
        "user_name": user_name,
        "reason": a.reason,
        "duration_seconds": a.duration_seconds,
        "created_at": iso(a.created_at),
        "expires_at": iso(a.expires_at),
        "moderator_role": a.moderator_role,
        "overturned": a.overturned_at is not None,
        "overturned_at": iso(a.overturned_at),
    }
    if show_moderator:
        out["moderator_id"] = a.moderator_id
    return out


def event_payload(a: ModerationAction) -> dict[str, Any]:
    """The "moderation.action" event (interfaces: the gateway notifies and enforces from it)."""
    target = {"type": a.target_type, "id": a.target_id} if a.target_type and a.target_id else None
    return {
        "id": a.id,
        "community_id": a.community_id,
        "action": a.action,
        "user_id": a.user_id,
        "target": target,
        "reason": a.reason,
        "until": iso(a.expires_at),
        "moderator_id": a.moderator_id,
        "moderator_role": a.moderator_role,
        "created_at": iso(a.created_at),
    }


async def moderation_log(
    session: AsyncSession, community_id: str, viewer_id: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The community's log, newest first: readable by whoever may read the community."""
    _community, member = await require_reader(session, community_id, viewer_id)
    staff = member is not None and Role(member.role).at_least(Role.MODERATOR)
    stmt = (
        select(ModerationAction, User.name)
        .outerjoin(User, User.id == ModerationAction.user_id)
        .where(ModerationAction.community_id == community_id)
    )
    after = paging.decode(cursor)
    if after is not None:
        stmt = stmt.where(ModerationAction.id < after)
    rows = (await session.execute(stmt.order_by(ModerationAction.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return {
        "items": [view(a, user_name=name, show_moderator=staff) for a, name in page],
        "next_cursor": paging.encode(page[-1][0].id) if len(rows) > limit else None,
    }


async def standing_sanctions(session: AsyncSession, community_id: str, viewer_id: str) -> dict[str, Any]:
    """Bans and mutes in force now (moderators and up), soonest to end first, open-ended last."""
    await require_role(session, community_id, viewer_id, Role.MODERATOR)
    now = utcnow()
    rows = await session.execute(
        select(Sanction, User.name)
        .outerjoin(User, User.id == Sanction.user_id)
        .where(Sanction.community_id == community_id, or_(Sanction.until.is_(None), Sanction.until > now))
    )
    items = [
        {"user_id": s.user_id, "user_name": name, "kind": s.kind, "until": iso(s.until), "action_id": s.action_id,
         "since": iso(s.created_at)}
        for s, name in rows
    ]
    items.sort(key=lambda i: (i["until"] is None, i["until"] or "", i["user_id"]))
    return {"items": items}
