"""Appeals: the user an action hit asks once for a second look; admins uphold or overturn it.

Overturning undoes what can be undone: a ban or mute that the action imposed and that is still
the standing one is lifted (recorded in the log as an `unban`/`unmute` by the deciding admin, so
the user is told and every node enforces it like any other action), and deleted posts and
comments come back. A kick is only marked overturned: the user may simply rejoin.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.access import Role, load_community, membership, reader_allowed, require_role
from live.communities.models import Comment, Post
from live.errors import ApiError, ErrorCode, not_found
from live.moderation import paging, rules, sanctions
from live.moderation.models import Appeal, ModerationAction
from live.moderation.service import view as action_view
from live.storage.base import iso, utcnow
from live.storage.ids import new_id

DECISIONS = ("upheld", "overturned")


async def create(session: AsyncSession, action_id: str, user_id: str, text: str) -> tuple[Appeal, ModerationAction]:
    """Appeal an action (only the user it hit, once per action).

    Anyone else is refused without learning more than the community's log shows them: 403 for
    an action in a community they can read, 404 (as for an unknown id) for one they cannot. The
    user it hit may always appeal, even from outside a members-only community they were banned
    from.
    """
    action = await session.get(ModerationAction, action_id)
    if action is None:
        raise not_found("moderation action")
    community = await load_community(session, action.community_id)
    if action.user_id != user_id:
        try:
            reader_allowed(community, await membership(session, community.id, user_id))
        except ApiError:
            raise not_found("moderation action") from None
        raise ApiError(ErrorCode.FORBIDDEN, "only the user an action applies to can appeal it")
    spec = rules.ACTIONS.get(action.action)
    if spec is None or not spec.appealable:
        raise ApiError(ErrorCode.CONFLICT, f"an {action.action} lifts a restriction: there is nothing to appeal")
    if action.overturned_at is not None:
        raise ApiError(ErrorCode.CONFLICT, "this action has already been overturned")
    existing = (await session.execute(select(Appeal.id).where(Appeal.action_id == action_id))).first()
    if existing is not None:
        raise ApiError(ErrorCode.CONFLICT, "this action has already been appealed (one appeal per action)")
    appeal = Appeal(
        id=new_id(),
        action_id=action.id,
        community_id=action.community_id,
        user_id=user_id,
        text=text,
        status="pending",
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(appeal)
    except IntegrityError:
        raise ApiError(ErrorCode.CONFLICT, "this action has already been appealed (one appeal per action)") from None
    return appeal, action


async def decide(
    session: AsyncSession, appeal_id: str, actor_id: str, decision: str, response: str
) -> tuple[Appeal, ModerationAction, ModerationAction | None]:
    """Answer an appeal (admins and up). Returns the appeal, its action, and the lifting action if any."""
    appeal = await session.get(Appeal, appeal_id)
    if appeal is None:
        raise not_found("appeal")
    _community, member = await require_role(session, appeal.community_id, actor_id, Role.ADMIN)
    if appeal.status != "pending":
        raise ApiError(ErrorCode.CONFLICT, f"this appeal was already decided ({appeal.status})")
    action = await session.get(ModerationAction, appeal.action_id)
    assert action is not None  # the foreign key cascades
    decider = Role(member.role)
    if Role(action.moderator_role).rank > decider.rank:
        # Overturning is acting against the one who acted: the rank rule holds here too.
        raise ApiError(ErrorCode.FORBIDDEN, f"an appeal against an {action.moderator_role}'s action needs "
                       f"an {action.moderator_role} or higher to decide it")
    now = utcnow()
    appeal.status = decision
    appeal.response = response
    appeal.decided_by = actor_id
    appeal.decided_at = now
    lifting: ModerationAction | None = None
    if decision == "overturned":
        action.overturned_at = now
        lifting = await _undo(session, action, actor_id, decider, response)
    return appeal, action, lifting


async def _undo(
    session: AsyncSession, action: ModerationAction, actor_id: str, actor_role: Role, response: str
) -> ModerationAction | None:
    spec = rules.ACTIONS[action.action]
    if spec.sanction is not None and action.user_id is not None:
        lifted = await sanctions.lift(
            session, action.community_id, action.user_id, spec.sanction, action_id=action.id
        )
        if not lifted:
            return None  # expired, or replaced by a newer action that stands on its own
        lifting = ModerationAction(
            id=new_id(),
            community_id=action.community_id,
            action="unban" if spec.sanction == sanctions.BAN else "unmute",
            user_id=action.user_id,
            reason=f"appeal granted: {response}",
            moderator_id=actor_id,
            moderator_role=actor_role.value,
            created_at=utcnow(),
        )
        session.add(lifting)
        return lifting
    if action.action == "delete" and action.target_id is not None:
        if action.target_type == "post":
            await session.execute(update(Post).where(Post.id == action.target_id).values(deleted_at=None))
        elif action.target_type == "comment":
            comment = await session.get(Comment, action.target_id)
            if comment is not None and comment.deleted_at is not None:
                comment.deleted_at = None
                await session.execute(
                    update(Post).where(Post.id == comment.post_id).values(comment_count=Post.comment_count + 1)
                )
    return None


async def list_for_admins(
    session: AsyncSession, community_id: str, viewer_id: str, status: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    await require_role(session, community_id, viewer_id, Role.ADMIN)
    stmt = select(Appeal, ModerationAction).join(ModerationAction, ModerationAction.id == Appeal.action_id)
    stmt = stmt.where(Appeal.community_id == community_id)
    if status is not None:
        stmt = stmt.where(Appeal.status == status)
    return await _page(session, stmt, cursor, limit, staff=True)


async def list_mine(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    stmt = select(Appeal, ModerationAction).join(ModerationAction, ModerationAction.id == Appeal.action_id)
    return await _page(session, stmt.where(Appeal.user_id == user_id), cursor, limit, staff=False)


async def _page(session: AsyncSession, stmt: Any, cursor: str | None, limit: int, *, staff: bool) -> dict[str, Any]:
    after = paging.decode(cursor)
    if after is not None:
        stmt = stmt.where(Appeal.id < after)
    rows = (await session.execute(stmt.order_by(Appeal.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return {
        "items": [view(a, action, staff=staff) for a, action in page],
        "next_cursor": paging.encode(page[-1][0].id) if len(rows) > limit else None,
    }


def view(a: Appeal, action: ModerationAction, *, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "action_id": a.action_id,
        "community_id": a.community_id,
        "user_id": a.user_id,
        "text": a.text,
        "status": a.status,
        "response": a.response,
        "decided_at": iso(a.decided_at),
        "created_at": iso(a.created_at),
        "action": action_view(action, show_moderator=staff),
    }
    if staff:
        out["decided_by"] = a.decided_by
    return out
