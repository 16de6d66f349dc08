"""Platform operators: who handles account reports and suspends accounts across communities.

An operator is a user id listed in `LIVE_OPERATORS` (configuration, for the people who run the
deployment) or granted in the database with `live admin grant USER_ID` (and taken back with
`live admin revoke`). Operators are not a community role: they do not moderate inside
communities, whose own staff do; they act on accounts.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.sql import insert_if_absent
from live.config import Settings
from live.errors import ApiError, ErrorCode
from live.safety.models import Operator
from live.storage.base import iso, utcnow


async def is_operator(session: AsyncSession, settings: Settings, user_id: str) -> bool:
    if user_id in settings.operators:
        return True
    return await session.get(Operator, user_id) is not None


async def require_operator(session: AsyncSession, settings: Settings, user_id: str) -> None:
    """403 `forbidden` unless `user_id` is a platform operator."""
    if not await is_operator(session, settings, user_id):
        raise ApiError(ErrorCode.FORBIDDEN, "this needs a platform operator")


async def grant(session: AsyncSession, user_id: str) -> bool:
    """Make `user_id` an operator; False if they already were one in the database."""
    return await insert_if_absent(session, Operator, {"user_id": user_id, "granted_at": utcnow()})


async def revoke(session: AsyncSession, user_id: str) -> bool:
    """Take the database grant back; False if there was none (`LIVE_OPERATORS` is configuration)."""
    result = await session.execute(delete(Operator).where(Operator.user_id == user_id).returning(Operator.user_id))
    return result.first() is not None


async def listing(session: AsyncSession, settings: Settings) -> list[dict[str, str | None]]:
    """Every operator: `{user_id, source: "setting"|"database", granted_at}`, by user id."""
    rows = (await session.execute(select(Operator))).scalars()
    found: dict[str, dict[str, str | None]] = {
        op.user_id: {"user_id": op.user_id, "source": "database", "granted_at": iso(op.granted_at)} for op in rows
    }
    for user_id in settings.operators:
        found[user_id] = {"user_id": user_id, "source": "setting", "granted_at": None}
    return [found[k] for k in sorted(found)]
