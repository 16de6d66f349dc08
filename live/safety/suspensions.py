"""Platform suspensions: an operator stops an account from writing anywhere, for a while or until lifted.

A suspension is logged (`platform_actions`, the platform's log), told to the user (the
`moderation.notice` event with `scope: "platform"`, then their WebSockets close with 4003), and
appealable once (`POST /v1/moderation/{aid}/appeal`, decided by operators). Until it ends, every
write is refused with 403 `suspended` (with `until`): every HTTP method but GET (`live.safety.guard`)
and every WebSocket request that writes (`live.signaling.safety`). Reading stays open: a suspended
member still reads their communities, can appeal, export or erase their account, and block people.

Like community sanctions, the state is one row per account (`suspensions`) whose `until` is
compared with the clock on read: a timed suspension lifts itself, nothing has to run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.config import Settings
from live.errors import ApiError, ErrorCode, not_found
from live.moderation import paging
from live.safety import operators
from live.safety.models import PlatformAction, PlatformAppeal, Suspension
from live.storage.base import iso, utcnow
from live.storage.ids import new_id
from live.storage.models import User

SUSPEND = "suspend"
UNSUSPEND = "unsuspend"
DECISIONS = ("upheld", "overturned")


def in_force(suspension: Suspension | None, now: dt.datetime | None = None) -> bool:
    if suspension is None:
        return False
    return suspension.until is None or suspension.until > (now or utcnow())


def suspended_error(until: dt.datetime | None) -> ApiError:
    text = iso(until)
    message = (f"your account is suspended until {text}" if text else "your account is suspended") + \
        ": you can read, appeal, export or erase your account, but not write"
    return ApiError(ErrorCode.SUSPENDED, message, until=text)


async def current(session: AsyncSession, user_id: str) -> Suspension | None:
    """The suspension in force on `user_id`, if any."""
    suspension = await session.get(Suspension, user_id)
    return suspension if in_force(suspension) else None


async def check_not_suspended(session: AsyncSession, user_id: str) -> None:
    """403 `suspended` (with `until`) while a suspension is in force."""
    suspension = await current(session, user_id)
    if suspension is not None:
        raise suspended_error(suspension.until)


async def in_force_among(session: AsyncSession, user_ids: list[str]) -> dict[str, dt.datetime | None]:
    """{user_id: until} of those of `user_ids` suspended now (until None: until lifted)."""
    if not user_ids:
        return {}
    rows = (await session.execute(select(Suspension).where(Suspension.account_id.in_(user_ids)))).scalars()
    now = utcnow()
    return {s.account_id: s.until for s in rows if in_force(s, now)}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an operator's action did, for the effects after the commit."""

    action: PlatformAction
    user_name: str | None


async def suspend(
    session: AsyncSession, settings: Settings, operator_id: str, user_id: str, reason: str,
    duration_seconds: int | None,
) -> Outcome:
    """Suspend an account (operators); a newer suspension replaces the one in force."""
    await operators.require_operator(session, settings, operator_id)
    target = await session.get(User, user_id)
    if target is None:
        raise not_found("user")
    if user_id == operator_id:
        raise ApiError(ErrorCode.FORBIDDEN, "you cannot suspend yourself")
    if await operators.is_operator(session, settings, user_id):
        raise ApiError(ErrorCode.FORBIDDEN, "operators cannot be suspended: revoke the grant first")
    now = utcnow()
    until = now + dt.timedelta(seconds=duration_seconds) if duration_seconds is not None else None
    action = PlatformAction(
        id=new_id(), action=SUSPEND, user_id=user_id, reason=reason, duration_seconds=duration_seconds,
        expires_at=until, moderator_id=operator_id, created_at=now,
    )
    session.add(action)
    await session.flush()
    await _impose(session, user_id, until, action.id)
    return Outcome(action, target.name)


async def _impose(session: AsyncSession, user_id: str, until: dt.datetime | None, action_id: str) -> None:
    existing = await session.get(Suspension, user_id, with_for_update=True)
    if existing is None:
        try:
            async with session.begin_nested():
                session.add(Suspension(account_id=user_id, until=until, action_id=action_id, created_at=utcnow()))
            return
        except IntegrityError:
            # Another operator's suspension committed first: the newer one wins.
            existing = await session.get(Suspension, user_id, populate_existing=True)
            assert existing is not None
    existing.until = until
    existing.action_id = action_id
    existing.created_at = utcnow()


async def unsuspend(
    session: AsyncSession, settings: Settings, operator_id: str, user_id: str, reason: str
) -> Outcome:
    """Lift the suspension in force (operators); 409 `conflict` when there is none."""
    await operators.require_operator(session, settings, operator_id)
    target = await session.get(User, user_id)
    if target is None:
        raise not_found("user")
    action = await _lift(session, user_id, operator_id, reason, only_action=None)
    if action is None:
        raise ApiError(ErrorCode.CONFLICT, f"{user_id} is not suspended")
    return Outcome(action, target.name)


async def _lift(
    session: AsyncSession, user_id: str, operator_id: str, reason: str, *, only_action: str | None
) -> PlatformAction | None:
    """Delete the suspension (only the one `only_action` set, when given) and log the lifting."""
    existing = await session.get(Suspension, user_id, with_for_update=True)
    if existing is None or not in_force(existing):
        return None
    if only_action is not None and existing.action_id != only_action:
        return None  # replaced by a newer suspension, which stands on its own
    await session.delete(existing)
    action = PlatformAction(
        id=new_id(), action=UNSUSPEND, user_id=user_id, reason=reason, moderator_id=operator_id, created_at=utcnow(),
    )
    session.add(action)
    await session.flush()
    return action


def view(a: PlatformAction, *, user_name: str | None = None, show_operator: bool) -> dict[str, Any]:
    """A platform log entry. The operator's id is shown to operators only."""
    out: dict[str, Any] = {
        "id": a.id,
        "scope": "platform",
        "community_id": None,
        "action": a.action,
        "target": {"type": "user", "id": a.user_id},
        "user_id": a.user_id,
        "user_name": user_name,
        "reason": a.reason,
        "duration_seconds": a.duration_seconds,
        "created_at": iso(a.created_at),
        "expires_at": iso(a.expires_at),
        "moderator_role": "operator",
        "overturned": a.overturned_at is not None,
        "overturned_at": iso(a.overturned_at),
    }
    if show_operator:
        out["moderator_id"] = a.moderator_id
    return out


def notice(a: PlatformAction) -> dict[str, Any]:
    """The `moderation.notice` a user gets for a platform action (WebSocket and notifications)."""
    return {
        "scope": "platform",
        "community_id": None,
        "action": a.action,
        "action_id": a.id,
        "user_id": a.user_id,
        "reason": a.reason,
        "until": iso(a.expires_at),
        "created_at": iso(a.created_at),
    }


async def log(session: AsyncSession, settings: Settings, viewer_id: str, user_id: str | None,
              cursor: str | None, limit: int) -> dict[str, Any]:
    """The platform log, newest first (operators), optionally about one account."""
    await operators.require_operator(session, settings, viewer_id)
    stmt = select(PlatformAction, User.name).outerjoin(User, User.id == PlatformAction.user_id)
    if user_id is not None:
        stmt = stmt.where(PlatformAction.user_id == user_id)
    after = paging.decode(cursor)
    if after is not None:
        stmt = stmt.where(PlatformAction.id < after)
    rows = (await session.execute(stmt.order_by(PlatformAction.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return {
        "items": [view(a, user_name=name, show_operator=True) for a, name in page],
        "next_cursor": paging.encode(page[-1][0].id) if len(rows) > limit else None,
    }


# -- appeals ----------------------------------------------------------------------------------------


async def appeal(session: AsyncSession, action_id: str, user_id: str, text: str) -> dict[str, Any] | None:
    """Appeal a platform action (its user, once); None when `action_id` is not a platform action."""
    action = await session.get(PlatformAction, action_id)
    if action is None:
        return None
    if action.user_id != user_id:
        raise ApiError(ErrorCode.FORBIDDEN, "only the user an action applies to can appeal it")
    if action.action != SUSPEND:
        raise ApiError(ErrorCode.CONFLICT, "an unsuspend lifts a restriction: there is nothing to appeal")
    if action.overturned_at is not None:
        raise ApiError(ErrorCode.CONFLICT, "this action has already been overturned")
    item = PlatformAppeal(
        id=new_id(), action_id=action.id, user_id=user_id, text=text, status="pending", created_at=utcnow()
    )
    try:
        async with session.begin_nested():
            session.add(item)
    except IntegrityError:
        raise ApiError(ErrorCode.CONFLICT, "this action has already been appealed (one appeal per action)") from None
    return appeal_view(item, action, staff=False)


async def decide(
    session: AsyncSession, settings: Settings, appeal_id: str, operator_id: str, decision: str, response: str
) -> tuple[dict[str, Any], PlatformAction | None]:
    """Uphold or overturn an appeal (operators); overturning lifts the suspension if it still stands.

    Returns the appeal's view and the `unsuspend` action recorded, if any.
    """
    await operators.require_operator(session, settings, operator_id)
    item = await session.get(PlatformAppeal, appeal_id, with_for_update=True)
    if item is None:
        raise not_found("appeal")
    if item.status != "pending":
        raise ApiError(ErrorCode.CONFLICT, f"this appeal was already decided ({item.status})")
    action = await session.get(PlatformAction, item.action_id)
    assert action is not None  # the foreign key cascades
    now = utcnow()
    item.status, item.response, item.decided_by, item.decided_at = decision, response, operator_id, now
    lifting = None
    if decision == "overturned":
        action.overturned_at = now
        lifting = await _lift(session, action.user_id, operator_id, f"appeal granted: {response}",
                              only_action=action.id)
    return appeal_view(item, action, staff=True), lifting


async def appeals(
    session: AsyncSession, settings: Settings, viewer_id: str, status: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Appeals against platform actions, newest first (operators)."""
    await operators.require_operator(session, settings, viewer_id)
    stmt = select(PlatformAppeal, PlatformAction).join(PlatformAction, PlatformAction.id == PlatformAppeal.action_id)
    if status is not None:
        stmt = stmt.where(PlatformAppeal.status == status)
    after = paging.decode(cursor)
    if after is not None:
        stmt = stmt.where(PlatformAppeal.id < after)
    rows = (await session.execute(stmt.order_by(PlatformAppeal.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return {
        "items": [appeal_view(a, action, staff=True) for a, action in page],
        "next_cursor": paging.encode(page[-1][0].id) if len(rows) > limit else None,
    }


def appeal_view(a: PlatformAppeal, action: PlatformAction, *, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "scope": "platform",
        "action_id": a.action_id,
        "community_id": None,
        "user_id": a.user_id,
        "text": a.text,
        "status": a.status,
        "response": a.response,
        "decided_at": iso(a.decided_at),
        "created_at": iso(a.created_at),
        "action": view(action, show_operator=staff),
    }
    if staff:
        out["decided_by"] = a.decided_by
    return out


async def account_status(session: AsyncSession, settings: Settings, user_id: str) -> dict[str, Any]:
    """`GET /v1/me/account`: whether the caller is an operator, and their suspension if any."""
    suspension = await current(session, user_id)
    out: dict[str, Any] = {
        "user_id": user_id,
        "operator": await operators.is_operator(session, settings, user_id),
        "suspended": suspension is not None,
        "suspension": None,
    }
    if suspension is not None:
        action = await session.get(PlatformAction, suspension.action_id)
        item = (
            await session.execute(select(PlatformAppeal).where(PlatformAppeal.action_id == suspension.action_id))
        ).scalar_one_or_none()
        out["suspension"] = {
            "action_id": suspension.action_id,
            "reason": action.reason if action is not None else "",
            "since": iso(suspension.created_at),
            "until": iso(suspension.until),
            "appeal": None if item is None else {
                "id": item.id, "status": item.status, "response": item.response,
                "created_at": iso(item.created_at), "decided_at": iso(item.decided_at),
            },
        }
    return out
