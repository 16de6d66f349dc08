"""Notification settings: muted communities, quiet hours in the user's time zone, a daily limit.

The rule (pure, tested with a table of cases): a notification is *held back from pushes and
webhooks* for a user when its community is muted, or when the user's local time is inside their
quiet hours. It is still stored in their inbox and still sent to their open connections: an app
that is open shows the badge, a phone in a pocket stays silent. Quiet hours may cross midnight
(22:00 to 07:00); start == end means no quiet hours. `daily_limit_minutes` is the usage time
after which one `usage.reminder` is sent that (local) day (live.me.usage).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from live.notifications.models import NotificationSettings

HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_MUTED = 500


def parse_hhmm(text: str) -> int:
    """Minutes after midnight of "HH:MM" (ValueError otherwise)."""
    match = HHMM.match(text)
    if match is None:
        raise ValueError("expected HH:MM (00:00 to 23:59)")
    return int(match.group(1)) * 60 + int(match.group(2))


def zone(name: str) -> zoneinfo.ZoneInfo:
    """An IANA time zone (ValueError for an unknown one)."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        raise ValueError("expected an IANA time zone such as Asia/Riyadh or UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name such as Asia/Riyadh") from None


@dataclasses.dataclass(frozen=True, slots=True)
class Prefs:
    """One user's settings, as the fan-out reads them."""

    muted: frozenset[str] = frozenset()
    quiet_start: int | None = None  # minutes after local midnight
    quiet_end: int | None = None
    timezone: str = "UTC"
    daily_limit_minutes: int | None = None

    def in_quiet_hours(self, now: dt.datetime) -> bool:
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return False
        local = now.astimezone(zone(self.timezone))
        minute = local.hour * 60 + local.minute
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= minute < self.quiet_end
        return minute >= self.quiet_start or minute < self.quiet_end  # across midnight

    def holds_back(self, community_id: str | None, now: dt.datetime) -> bool:
        """Whether pushes and webhooks about this notification skip this user."""
        return (community_id is not None and community_id in self.muted) or self.in_quiet_hours(now)

    def today(self, now: dt.datetime) -> dt.date:
        return now.astimezone(zone(self.timezone)).date()


DEFAULT = Prefs()


def prefs_of(row: NotificationSettings | None) -> Prefs:
    if row is None:
        return DEFAULT
    return Prefs(
        muted=frozenset(row.muted_communities or ()),
        quiet_start=parse_hhmm(row.quiet_start) if row.quiet_start else None,
        quiet_end=parse_hhmm(row.quiet_end) if row.quiet_end else None,
        timezone=row.timezone or "UTC",
        daily_limit_minutes=row.daily_limit_minutes,
    )


async def load_many(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, Prefs]:
    """Settings of the users who have any (absent: the defaults)."""
    ids = list(user_ids)
    out: dict[str, Prefs] = {}
    for start in range(0, len(ids), 1000):
        rows = await session.execute(
            select(NotificationSettings).where(NotificationSettings.user_id.in_(ids[start:start + 1000]))
        )
        for row in rows.scalars():
            out[row.user_id] = prefs_of(row)
    return out


def view(row: NotificationSettings | None) -> dict[str, Any]:
    """The settings object of `GET /v1/me/notification-settings`."""
    if row is None:
        return {"muted_communities": [], "quiet_hours": None, "daily_limit_minutes": None, "timezone": "UTC"}
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = {"start": row.quiet_start, "end": row.quiet_end, "tz": row.timezone}
    return {
        "muted_communities": list(row.muted_communities or []),
        "quiet_hours": quiet,
        "daily_limit_minutes": row.daily_limit_minutes,
        "timezone": row.timezone,
    }
