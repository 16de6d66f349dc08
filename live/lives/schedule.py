"""Scheduled lives: planned ahead, listed as upcoming, reminded of, started by the host, or expired.

- `POST /v1/communities/{cid}/live {title, starts_at}` with `starts_at` in the future makes a live
  with `status: "scheduled"` (a member not banned or muted, like going live); members and
  followers get `live.scheduled`, and watchers of `community:{cid}` the `live.scheduled` event.
- `POST /v1/live/{lid}/reminder` (any reader; `DELETE` undoes it): a `live.reminder` notification
  `LIVE_REMINDER_MINUTES` before `starts_at`, and `live.started` when it starts.
- `POST /v1/live/{lid}/start` (the host): `scheduled` → `live`, whenever the host is ready (early
  or late); one live at a time per host still holds (409).
- A live scheduled and never started ends itself 2 h after `starts_at` (`end_reason:
  "not_started"`); the host or a moderator may call it off before (`POST /v1/live/{lid}/end`).

The scheduler runs on every node every `TICK_SECONDS`; each reminder and each expiry is claimed by
one conditional UPDATE, so with many nodes each happens once. Time is `services.clock`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.auth.tokens import Principal
from live.communities.access import require_member, require_reader
from live.errors import ApiError, ErrorCode, invalid, not_found
from live.http import cursors
from live.lives import notices
from live.lives.models import ENDED, LIVE, SCHEDULED, Live, LiveReminder
from live.lives.service import LiveService
from live.moderation.sanctions import check_can_speak
from live.notifications import kinds
from live.notifications.service import NotificationService
from live.room_id import RoomId
from live.rooms.hub import Hub
from live.services import Services
from live.storage.ids import new_id
from live.storage.models import User
from live.storage.outage import OutageLog

log = logging.getLogger("live.lives.schedule")

EXPIRE_AFTER = dt.timedelta(hours=2)
FURTHEST = dt.timedelta(days=365)
TICK_SECONDS = 5.0


class Schedule:
    """Scheduled lives: making, listing, reminding of, starting and expiring them."""

    def __init__(self, services: Services, lives: LiveService, notifier: NotificationService, hub: Hub) -> None:
        self.services = services
        self.lives = lives
        self.notifier = notifier
        self.hub = hub
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog(log, "the live schedule's tick")
        self._wake = asyncio.Event()

    @property
    def reminder_minutes(self) -> int:
        return self.services.settings.reminder_minutes

    @property
    def now(self) -> dt.datetime:
        return self.services.clock.now()

    # -- HTTP ------------------------------------------------------------------------------------

    async def create(self, community_id: str, user: Principal, title: str, starts_at: dt.datetime) -> dict[str, Any]:
        now = self.now
        if starts_at <= now:
            raise invalid({"starts_at": "must be in the future"}, "a scheduled live starts in the future")
        if starts_at - now > FURTHEST:
            raise invalid({"starts_at": "must be within a year"}, "a scheduled live starts within a year")
        service = self.lives
        async with self.services.db.session() as session:
            await require_member(session, community_id, user.id)
            await check_can_speak(session, community_id, user.id)
            live = Live(
                id=new_id(), community_id=community_id, host_id=user.id, title=title, status=SCHEDULED,
                live_host=None, started_at=None, starts_at=starts_at, peak_viewers=0,
            )
            session.add(live)
            await session.flush()
            view = service.view(live, await _name(session, user.id))
            await notices.queue(self.notifier, session, kinds.LIVE_SCHEDULED, view, self.reminder_minutes)
        self.notifier.kick()
        self._wake.set()
        await self._tell_watchers("live.scheduled", view)
        return view

    async def start(self, lid: str, user: Principal) -> dict[str, Any]:
        """The host starts a scheduled live: it becomes `live` (409 if it is not scheduled)."""
        service = self.lives
        async with self.services.db.session() as session:
            live = await session.get(Live, lid, with_for_update=True)
            if live is None:
                raise not_found("live")
            await require_reader(session, live.community_id, user.id)
            if live.host_id != user.id:
                raise ApiError(ErrorCode.FORBIDDEN, "only the host starts a scheduled live")
            if live.status != SCHEDULED:
                raise ApiError(ErrorCode.CONFLICT, f"this live is not scheduled (it is {live.status})")
            await check_can_speak(session, live.community_id, user.id)
            live.status, live.started_at, live.live_host = LIVE, self.now, user.id
            try:
                await session.flush()
            except IntegrityError:
                raise ApiError(ErrorCode.CONFLICT, "you are already live; end it first") from None
            view = service.view(live, await _name(session, user.id))
            await notices.queue(self.notifier, session, kinds.LIVE_STARTED, view, self.reminder_minutes)
        self.notifier.kick()
        service.grace.start(live.id, user.id)  # a host who never connects does not keep it live
        await self.services.events.emit("live.started", {"community_id": view["community_id"], "live": view})
        return view

    async def remind(self, lid: str, user: Principal, on: bool) -> None:
        """Ask (or stop asking) for a reminder: readers of the live's community, while it is ahead."""
        async with self.services.db.session() as session:
            live = await session.get(Live, lid)
            if live is None:
                raise not_found("live")
            await require_reader(session, live.community_id, user.id)
            if not on:
                await session.execute(delete(LiveReminder).where(LiveReminder.live_id == lid,
                                                                 LiveReminder.user_id == user.id))
                return
            if live.status == ENDED:
                raise ApiError(ErrorCode.CONFLICT, "this live has ended")
            if live.status == LIVE:
                raise ApiError(ErrorCode.CONFLICT, "this live has already started: watch it now")
            if await session.get(LiveReminder, (lid, user.id)) is None:
                try:
                    async with session.begin_nested():
                        session.add(LiveReminder(live_id=lid, user_id=user.id, created_at=self.now))
                except IntegrityError:
                    pass  # asked twice at once: one reminder

    async def upcoming(self, community_id: str, user: Principal, cursor: str | None, limit: int) -> dict[str, Any]:
        """The community's scheduled lives, soonest first."""
        async with self.services.db.session() as session:
            await require_reader(session, community_id, user.id)
            stmt = (
                select(Live, User.name).join(User, User.id == Live.host_id)
                .where(Live.community_id == community_id, Live.status == SCHEDULED)
            )
            rows = await page_upcoming(session, stmt, cursor, limit)
            return await upcoming_page(self.lives, session, rows, user.id, limit)

    async def _tell_watchers(self, kind: str, view: dict[str, Any]) -> None:
        cid = view["community_id"]
        try:
            await self.hub.publish(RoomId.community(cid), {"type": kind, "community_id": cid, "live": view})
        except ApiError as exc:  # the bus is down: the live tab's refresh will show it
            log.warning("telling community:%s of %s failed: %s", cid, kind, exc)

    # -- the scheduler ---------------------------------------------------------------------------

    def start_loop(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="live-schedule")

    async def stop_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                self._outage.failed(exc)
            else:
                self._outage.worked()
            self._wake.clear()
            try:
                async with asyncio.timeout(TICK_SECONDS):  # not wait_for: see Sender._loop
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def tick(self) -> tuple[int, int]:
        """Send the reminders that are due and expire what never started: (reminded, expired)."""
        now = self.now
        lead = dt.timedelta(minutes=self.services.settings.reminder_minutes)
        reminded = expired = 0
        async with self.services.db.session() as session:
            due = (await session.execute(
                select(Live.id).where(Live.status == SCHEDULED, Live.reminded_at.is_(None),
                                      Live.starts_at <= now + lead).limit(500)
            )).scalars().all()
        for lid in due:
            reminded += await self._remind(lid, now)
        async with self.services.db.session() as session:
            stale = (await session.execute(
                select(Live.id).where(Live.status == SCHEDULED, Live.starts_at <= now - EXPIRE_AFTER).limit(500)
            )).scalars().all()
        for lid in stale:
            try:
                await self.lives.end(lid, None, reason="not_started")
                expired += 1
            except ApiError as exc:
                if exc.code is not ErrorCode.CONFLICT:
                    raise
        if reminded:
            self.notifier.kick()
        return reminded, expired

    async def _remind(self, lid: str, now: dt.datetime) -> int:
        async with self.services.db.session() as session:
            claimed = await session.execute(
                update(Live).where(Live.id == lid, Live.status == SCHEDULED, Live.reminded_at.is_(None))
                .values(reminded_at=now)
            )
            if not getattr(claimed, "rowcount", 0):
                return 0  # another node did it
            live = await session.get(Live, lid)
            assert live is not None
            view = self.lives.view(live, await _name(session, live.host_id))
            if live.starts_at is not None and live.starts_at + EXPIRE_AFTER <= now:
                return 0  # about to expire: no point
            await notices.queue(self.notifier, session, kinds.LIVE_REMINDER, view, self.reminder_minutes)
        return 1


async def _name(session: Any, user_id: str) -> str:
    user = await session.get(User, user_id)
    return user.name if user is not None else user_id


async def page_upcoming(session: Any, stmt: Any, cursor: str | None, limit: int) -> list[Any]:
    """Rows of `stmt` (Live, host name) soonest first, after `cursor` (the last live's id: its
    `starts_at` is read back, which keeps the cursor short)."""
    key = cursors.decode(cursor, str)
    if key is not None:
        at = (await session.execute(select(Live.starts_at).where(Live.id == key[0]))).scalar_one_or_none()
        if at is None:
            raise cursors.bad_cursor()
        stmt = stmt.where(or_(Live.starts_at > at, and_(Live.starts_at == at, Live.id > key[0])))
    return list((await session.execute(stmt.order_by(Live.starts_at, Live.id).limit(limit + 1))).all())


async def upcoming_page(lives: LiveService, session: AsyncSession, rows: list[Any], user_id: str,
                        limit: int) -> dict[str, Any]:
    """`{items, next_cursor}` of upcoming lives, each with the caller's `remind_me`."""
    page = rows[:limit]
    ids = [live.id for live, _ in page]
    mine: set[str] = set()
    if ids:
        mine = set((await session.execute(
            select(LiveReminder.live_id).where(LiveReminder.user_id == user_id, LiveReminder.live_id.in_(ids))
        )).scalars())
    items = [{**lives.view(live, name), "remind_me": live.id in mine} for live, name in page]
    last = page[-1][0] if len(rows) > limit else None
    return {
        "items": items,
        "next_cursor": cursors.encode(last.id) if last is not None else None,
    }
