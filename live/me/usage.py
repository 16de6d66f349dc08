"""Usage time, recorded from real sessions: minutes watching and hosting, per day (seed 001).

**What counts.** A minute counts as *watching* when the user is in a live's room over the
WebSocket (any connection, any node), or fetches the live's HLS playlist with their token (a
signed-in HLS player; anonymous players of public lives are not anyone's time); as *hosting*
when the user is the live's host and in its room. A minute in which both happen counts once per
kind. The granularity is one minute: a visit of ten seconds is a minute.

**How, cheaply.** Each node samples its own connections every `SAMPLE_SECONDS` (no I/O: the
gateway's rooms in memory) and notes `(user, day, kind, community) -> {minute of the day}` in
memory. Every `LIVE_USAGE_FLUSH_SECONDS` it merges what it noted into the `usage_minutes`
bitmaps (live.me.models) with a bitwise OR, in one transaction: no database write per heartbeat,
one row per user, day, kind and community however long they stay.

**Exact across reconnects and nodes.** A minute is a bit: the same minute noted by two
connections, two nodes, or two flushes is still one bit, so nothing is counted twice, and a
reconnect inside a minute loses nothing. What a node noted but had not flushed when it was
killed is lost (at most one flush interval of its viewers' time); a stopping node flushes first.

**Days** are the user's own (the `timezone` of their notification settings, default UTC): the
bitmaps are per UTC day, and a local day is cut out of the UTC days it overlaps, minute by
minute. `messages_sent` counts their stored chat messages in that day. With
`daily_limit_minutes` set, the flush that takes today's watching plus hosting over the limit
sends one `usage.reminder` notification (once per local day, across nodes). Insights read the
same rows (per community, per UTC day).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from live.chat.models import ChatMessage
from live.me.models import BITMAP_BYTES, MINUTES_PER_DAY, UsageMinutes
from live.notifications import kinds, prefs
from live.notifications.models import NotificationSettings
from live.notifications.service import NotificationService
from live.services import Services
from live.storage.db import Database
from live.storage.outage import OutageLog

log = logging.getLogger("live.me.usage")

KINDS = ("watching", "hosting")
SAMPLE_SECONDS = 5.0
CHUNK = 500

Key = tuple[str, str, str, str]  # user, UTC day, kind, community ("" for none)


# -- minutes as bits (pure) ----------------------------------------------------------------------


def minute_of(when: dt.datetime) -> tuple[str, int]:
    """(UTC day, minute of that day) of a moment."""
    utc = when.astimezone(dt.UTC)
    return utc.date().isoformat(), utc.hour * 60 + utc.minute


def to_int(bitmap: bytes | None) -> int:
    return int.from_bytes(bitmap or b"", "little")


def to_bytes(bits: int) -> bytes:
    return bits.to_bytes(BITMAP_BYTES, "little")


def bits_of(minutes: set[int]) -> int:
    out = 0
    for m in minutes:
        if 0 <= m < MINUTES_PER_DAY:
            out |= 1 << m
    return out


def count_range(bits: int, lo: int, hi: int) -> int:
    """Set bits among minutes [lo, hi)."""
    if hi <= lo:
        return 0
    return ((bits >> lo) & ((1 << (hi - lo)) - 1)).bit_count()


def local_day_bounds(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC start and end of a local day (23 or 25 hours around a DST change)."""
    zone = prefs.zone(tz)
    start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return start, end


def minutes_between(per_day: dict[str, int], start: dt.datetime, end: dt.datetime) -> int:
    """Set minutes of the UTC-day bitmaps `per_day` in [start, end)."""
    total = 0
    day = start.date()
    while True:
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        if midnight >= end:
            break
        lo = max(0, int((start - midnight).total_seconds() // 60))
        hi = min(MINUTES_PER_DAY, int((end - midnight).total_seconds() // 60))
        total += count_range(per_day.get(day.isoformat(), 0), lo, hi)
        day += dt.timedelta(days=1)
    return total


def minute_marks(start: dt.datetime, end: dt.datetime) -> dict[str, set[int]]:
    """The minutes touched by [start, end), by UTC day (for recording a stretch at once)."""
    out: dict[str, set[int]] = defaultdict(set)
    at = start.astimezone(dt.UTC).replace(second=0, microsecond=0)
    while at < end:
        day, minute = minute_of(at)
        out[day].add(minute)
        at += dt.timedelta(minutes=1)
    return out


# -- writing ------------------------------------------------------------------------------------


async def merge(db: Database, noted: dict[Key, set[int]], now: dt.datetime) -> list[str]:
    """OR `noted` minutes into the bitmaps; the users whose totals grew."""
    grew: set[str] = set()
    keys = list(noted)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        async with db.session() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            await session.execute(insert(UsageMinutes).on_conflict_do_nothing(), [
                {"user_id": u, "day": d, "kind": k, "community_id": c, "minutes": to_bytes(0), "seconds": 0,
                 "updated_at": now}
                for u, d, k, c in chunk
            ])
            stmt = select(UsageMinutes).where(
                tuple_(UsageMinutes.user_id, UsageMinutes.day, UsageMinutes.kind, UsageMinutes.community_id).in_(chunk)
            )
            if dialect == "postgresql":
                stmt = stmt.with_for_update()
            for row in (await session.execute(stmt)).scalars():
                key = (row.user_id, row.day, row.kind, row.community_id)
                old = to_int(row.minutes)
                new = old | bits_of(noted.get(key, set()))
                if new != old:
                    row.minutes = to_bytes(new)
                    row.seconds = new.bit_count() * 60
                    row.updated_at = now
                    grew.add(row.user_id)
    return sorted(grew)


async def record_minutes(db: Database, user_id: str, community_id: str | None, kind: str,
                         start: dt.datetime, end: dt.datetime) -> None:
    """Mark every minute of [start, end) (tools, imports, tests of the reading side)."""
    if kind not in KINDS:
        raise ValueError(f"usage kind must be one of {KINDS}, not {kind!r}")
    noted = {(user_id, day, kind, community_id or ""): mins for day, mins in minute_marks(start, end).items()}
    await merge(db, noted, end)


# -- reading ------------------------------------------------------------------------------------


def day_range(days: int, today: dt.date) -> list[dt.date]:
    """The last `days` days, oldest first, ending with `today`."""
    return [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]


async def _bitmaps(session: AsyncSession, user_id: str, first: dt.date, last: dt.date) -> dict[str, dict[str, int]]:
    """kind -> UTC day -> the OR of that day's bitmaps over every community."""
    rows = await session.execute(
        select(UsageMinutes.kind, UsageMinutes.day, UsageMinutes.minutes).where(
            UsageMinutes.user_id == user_id,
            UsageMinutes.day >= first.isoformat(), UsageMinutes.day <= last.isoformat(),
        )
    )
    out: dict[str, dict[str, int]] = {kind: defaultdict(int) for kind in KINDS}
    for kind, day, minutes in rows:
        if kind in out:
            out[kind][day] |= to_int(minutes)
    return out


def _minute_text(session: AsyncSession, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24:MI")
    return func.strftime("%Y-%m-%d %H:%M", column)


async def _messages(
    session: AsyncSession, user_id: str, start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, int]:
    """The user's stored chat messages in [start, end) per UTC minute."""
    minute = _minute_text(session, ChatMessage.created_at)
    rows = await session.execute(
        select(minute, func.count()).where(
            ChatMessage.user_id == user_id, ChatMessage.created_at >= start, ChatMessage.created_at < end
        ).group_by(minute)
    )
    return {
        dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC): int(n)
        for text, n in rows
    }


@dataclasses.dataclass(frozen=True, slots=True)
class DayUsage:
    date: str
    watching_seconds: int
    hosting_seconds: int
    messages_sent: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def days_of(session: AsyncSession, user_id: str, days: list[dt.date], tz: str) -> list[DayUsage]:
    """Usage of each local day in `days` (in `tz`)."""
    bounds = [local_day_bounds(d, tz) for d in days]
    first, last = bounds[0][0].date(), bounds[-1][1].date()
    maps = await _bitmaps(session, user_id, first, last)
    messages = await _messages(session, user_id, bounds[0][0], bounds[-1][1])
    out = []
    for day, (start, end) in zip(days, bounds, strict=True):
        out.append(DayUsage(
            date=day.isoformat(),
            watching_seconds=60 * minutes_between(maps["watching"], start, end),
            hosting_seconds=60 * minutes_between(maps["hosting"], start, end),
            messages_sent=sum(n for at, n in messages.items() if start <= at < end),
        ))
    return out


async def usage(session: AsyncSession, user_id: str, days: int, now: dt.datetime) -> dict[str, Any]:
    """`GET /v1/me/usage`: the last `days` local days, oldest first, today, and the daily limit."""
    row = await session.get(NotificationSettings, user_id)
    settings = prefs.prefs_of(row)
    today = settings.today(now)
    items = await days_of(session, user_id, day_range(days, today), settings.timezone)
    totals = {
        "watching_seconds": sum(d.watching_seconds for d in items),
        "hosting_seconds": sum(d.hosting_seconds for d in items),
        "messages_sent": sum(d.messages_sent for d in items),
    }
    return {
        "days": [d.to_json() for d in items],
        "today": items[-1].to_json(),
        "daily_limit_minutes": settings.daily_limit_minutes,
        "timezone": settings.timezone,
        "totals": totals,
    }


async def community_seconds(session: AsyncSession, community_id: str, first_day: str) -> list[tuple[str, str, int]]:
    """(UTC day, kind, seconds) of everyone's time in one community since `first_day` (insights)."""
    rows = await session.execute(
        select(UsageMinutes.day, UsageMinutes.kind, func.sum(UsageMinutes.seconds))
        .where(UsageMinutes.community_id == community_id, UsageMinutes.day >= first_day)
        .group_by(UsageMinutes.day, UsageMinutes.kind)
    )
    return [(d, k, int(n or 0)) for d, k, n in rows]


async def community_users(session: AsyncSession, community_id: str, first_day: str) -> list[tuple[str, str]]:
    """(UTC day, user) pairs of who spent time in one community since `first_day` (insights)."""
    rows = await session.execute(
        select(UsageMinutes.day, UsageMinutes.user_id).distinct()
        .where(UsageMinutes.community_id == community_id, UsageMinutes.day >= first_day,
               UsageMinutes.seconds > 0)
    )
    return [(d, u) for d, u in rows]


# -- the recorder -------------------------------------------------------------------------------


class Attendance(Protocol):
    """Who is in a live room on this node (the gateway): (user id, community id, hosting)."""

    def attendees(self) -> Iterable[tuple[str, str, bool]]: ...


class UsageRecorder:
    """Notes the minutes of this node's sessions, and flushes them."""

    def __init__(self, services: Services, notifier: NotificationService, attendance: Attendance) -> None:
        self.services = services
        self.notifier = notifier
        self.attendance = attendance
        self.noted: dict[Key, set[int]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog(log, "usage recording")
        self._lock = asyncio.Lock()

    @property
    def now(self) -> dt.datetime:
        return self.services.clock.now()

    def note(self, user_id: str, community_id: str | None, kind: str, when: dt.datetime | None = None) -> None:
        """`user_id` spent (part of) the current minute watching or hosting: no I/O."""
        day, minute = minute_of(when or self.now)
        self.noted[(user_id, day, kind, community_id or "")].add(minute)

    def sample(self, when: dt.datetime | None = None) -> int:
        """Note the minute for everyone in a live room on this node; how many were noted."""
        at = when or self.now
        noted = 0
        for user_id, community_id, hosting in self.attendance.attendees():
            self.note(user_id, community_id, "hosting" if hosting else "watching", at)
            noted += 1
        return noted

    async def flush(self) -> list[str]:
        """Merge what was noted into the database; send due `usage.reminder`s. Users whose time grew."""
        async with self._lock:
            noted, self.noted = self.noted, defaultdict(set)
            if not noted:
                return []
            now = self.now
            try:
                grew = await merge(self.services.db, noted, now)
            except Exception:
                for key, minutes in noted.items():  # keep them for the next flush
                    self.noted[key] |= minutes
                raise
        await self._remind(grew, now)
        return grew

    async def _remind(self, users: list[str], now: dt.datetime) -> None:
        """`usage.reminder` to those whose time today crossed their daily limit (once a day)."""
        if not users:
            return
        db = self.services.db
        async with db.session() as session:
            rows = (await session.execute(select(NotificationSettings).where(
                NotificationSettings.user_id.in_(users), NotificationSettings.daily_limit_minutes.is_not(None)
            ))).scalars().all()
            candidates = [(r.user_id, prefs.prefs_of(r), r.usage_reminded_on) for r in rows]
        notifier = self.notifier
        for user_id, settings, reminded_on in candidates:
            today = settings.today(now)
            if reminded_on == today.isoformat() or settings.daily_limit_minutes is None:
                continue
            async with db.session() as session:
                [day] = await days_of(session, user_id, [today], settings.timezone)
                minutes = (day.watching_seconds + day.hosting_seconds) // 60
                if minutes < settings.daily_limit_minutes:
                    continue
                claimed = await session.execute(
                    update(NotificationSettings)
                    .where(NotificationSettings.user_id == user_id,
                           or_(NotificationSettings.usage_reminded_on.is_(None),
                               NotificationSettings.usage_reminded_on != today.isoformat()))
                    .values(usage_reminded_on=today.isoformat())
                )
                if not getattr(claimed, "rowcount", 0):
                    continue
                from live.notifications.fanout import Audience

                notifier.queue(session, kinds.Draft(
                    kinds.USAGE_REMINDER,
                    f"You reached your daily limit of {settings.daily_limit_minutes} minutes",
                    f"Today: {day.watching_seconds // 60} min watching, {day.hosting_seconds // 60} min hosting.",
                    "#/me/time",
                ), Audience(users=(user_id,)))
            notifier.kick()

    # -- the loop --------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="usage-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            self.sample()
            await self.flush()  # a stopping node keeps what it saw
        except Exception:  # the database may be going away too
            log.warning("the last usage flush failed", exc_info=True)

    async def _loop(self) -> None:
        interval = self.services.settings.usage_flush_seconds
        loop = asyncio.get_running_loop()
        next_flush = loop.time() + interval
        while True:
            await asyncio.sleep(min(SAMPLE_SECONDS, interval))
            try:
                self.sample()
                if loop.time() >= next_flush:
                    next_flush = loop.time() + interval
                    await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - kept in memory, flushed on a later try
                self._outage.failed(exc)
            else:
                self._outage.worked()
