"""Standing restrictions, asked inside the caller's own session: is this user banned, muted?

Other domains call these before a write (joining, accepting an invite, posting, chatting).
A sanction whose `until` has passed never counts: expiry needs no timer, only a comparison with
the clock at read time. The rows stay until overwritten or lifted; the log keeps the history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.errors import ApiError, ErrorCode
from live.moderation.models import Sanction
from live.storage.base import iso, utcnow

BAN = "ban"
MUTE = "mute"


def in_force(sanction: Sanction | None, now: dt.datetime | None = None) -> bool:
    """Whether a sanction still applies at `now` (no `until` means until lifted)."""
    if sanction is None:
        return False
    return sanction.until is None or sanction.until > (now or utcnow())


async def active_sanction(
    session: AsyncSession, community_id: str, user_id: str, kind: str
) -> Sanction | None:
    """The user's ban or mute in this community, if one is in force now."""
    sanction = await session.get(Sanction, (community_id, user_id, kind))
    return sanction if in_force(sanction) else None


async def active_sanctions(session: AsyncSession, community_id: str, user_id: str) -> dict[str, Sanction]:
    """Every sanction in force for the user here, keyed by kind."""
    rows = (
        await session.execute(
            select(Sanction).where(Sanction.community_id == community_id, Sanction.user_id == user_id)
        )
    ).scalars()
    now = utcnow()
    return {s.kind: s for s in rows if in_force(s, now)}


def banned_error(sanction: Sanction) -> ApiError:
    until = iso(sanction.until)
    text = f"you are banned from this community until {until}" if until else "you are banned from this community"
    return ApiError(ErrorCode.BANNED, text, until=until)


def muted_error(sanction: Sanction) -> ApiError:
    until = iso(sanction.until)
    text = f"you are muted in this community until {until}" if until else "you are muted in this community"
    return ApiError(ErrorCode.MUTED, text, until=until)


async def check_not_banned(session: AsyncSession, community_id: str, user_id: str) -> None:
    """Raise 403 `banned` (with `until`) when a ban is in force."""
    ban = await active_sanction(session, community_id, user_id, BAN)
    if ban is not None:
        raise banned_error(ban)


async def check_can_speak(session: AsyncSession, community_id: str, user_id: str) -> None:
    """Raise 403 `banned` or `muted` (mutes and timeouts; with `until`) when one is in force."""
    current = await active_sanctions(session, community_id, user_id)
    if BAN in current:
        raise banned_error(current[BAN])
    if MUTE in current:
        raise muted_error(current[MUTE])


async def impose(
    session: AsyncSession,
    community_id: str,
    user_id: str,
    kind: str,
    until: dt.datetime | None,
    action_id: str,
) -> None:
    """Set (or replace) the user's `kind` sanction: the newest action decides."""
    existing = await session.get(Sanction, (community_id, user_id, kind))
    if existing is None:
        try:
            async with session.begin_nested():
                session.add(
                    Sanction(community_id=community_id, user_id=user_id, kind=kind, until=until, action_id=action_id)
                )
        except IntegrityError:
            # Another moderator's action on the same user committed first: the newer one wins.
            existing = await session.get(Sanction, (community_id, user_id, kind), populate_existing=True)
            assert existing is not None
    if existing is not None:
        existing.until = until
        existing.action_id = action_id
        existing.created_at = utcnow()


async def lift(
    session: AsyncSession, community_id: str, user_id: str, kind: str, *, action_id: str | None = None
) -> bool:
    """Remove the sanction (only the one `action_id` set, when given); True if one was in force."""
    existing = await session.get(Sanction, (community_id, user_id, kind))
    if existing is None or (action_id is not None and existing.action_id != action_id):
        return False
    was_in_force = in_force(existing)
    await session.execute(
        delete(Sanction).where(
            Sanction.community_id == community_id, Sanction.user_id == user_id, Sanction.kind == kind
        )
    )
    return was_in_force
