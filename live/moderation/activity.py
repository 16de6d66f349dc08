"""Usage time: what the gateway reports (watching, hosting, chatting) and its per-day totals.

The gateway calls `record_activity` when a stretch of time ends (a viewer leaves a live, a host
ends one). A stretch that crosses UTC midnight is split so each day gets its own seconds; that
keeps per-day totals a GROUP BY on `day` with no date arithmetic in SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from live.moderation.models import Activity
from live.storage.db import Database

KINDS = ("watching", "hosting", "chatting")


def split_by_day(started_at: dt.datetime, seconds: int) -> list[tuple[str, dt.datetime, int]]:
    """(day, start, seconds) pieces of a stretch of time, cut at UTC midnights."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    start = started_at.astimezone(dt.timezone.utc)
    left = seconds
    pieces: list[tuple[str, dt.datetime, int]] = []
    while left > 0:
        midnight = dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
        take = min(left, max(1, int((midnight - start).total_seconds())))
        pieces.append((start.date().isoformat(), start, take))
        start, left = start + dt.timedelta(seconds=take), left - take
    return pieces


def add_activity(
    session: AsyncSession,
    user_id: str,
    community_id: str | None,
    kind: str,
    started_at: dt.datetime,
    seconds: int,
) -> None:
    """Add the rows of one stretch of time inside the caller's session."""
    if kind not in KINDS:
        raise ValueError(f"activity kind must be one of {KINDS}, not {kind!r}")
    for day, start, part in split_by_day(started_at, max(0, int(seconds))):
        session.add(
            Activity(user_id=user_id, community_id=community_id, kind=kind, started_at=start, seconds=part, day=day)
        )


async def record_activity(
    db: Database,
    user_id: str,
    community_id: str | None,
    kind: str,
    started_at: dt.datetime,
    seconds: float,
) -> None:
    """Record `seconds` of `kind` (watching|hosting|chatting) that began at `started_at`."""
    whole = int(round(seconds))
    if whole <= 0:
        return
    async with db.session() as session:
        add_activity(session, user_id, community_id, kind, started_at, whole)


def day_range(days: int, today: dt.date) -> list[str]:
    """The last `days` UTC days, oldest first, ending with `today`."""
    return [(today - dt.timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


async def usage(session: AsyncSession, user_id: str, days: int, today: dt.date) -> dict[str, Any]:
    """One user's seconds per day and kind over the last `days` days (zero days included)."""
    span = day_range(days, today)
    rows = await session.execute(
        select(Activity.day, Activity.kind, func.sum(Activity.seconds))
        .where(Activity.user_id == user_id, Activity.day >= span[0], Activity.day <= span[-1])
        .group_by(Activity.day, Activity.kind)
    )
    per_day = {day: {f"{kind}_seconds": 0 for kind in KINDS} for day in span}
    for day, kind, total in rows:
        if kind in KINDS:
            per_day[day][f"{kind}_seconds"] = int(total or 0)
    totals = {f"{kind}_seconds": sum(d[f"{kind}_seconds"] for d in per_day.values()) for kind in KINDS}
    return {
        "days": days,
        "from": span[0],
        "to": span[-1],
        "items": [{"date": day, **per_day[day]} for day in span],
        "totals": totals,
    }
