"""Live sessions: going live, the live tab, ending, the stage, and the grace period of a lost host.

The gateway asks it who may be in a live's room (`room_info`), what a joiner sees (`state`),
applies stage actions, reports the host's presence and the viewer count; the media service asks
`may_publish`. HTTP handlers (live.lives.api) call the rest. What it reads of the rest of the node
(viewer counts, HLS, who sends media) it is given as small Protocols: those parts sit above it.

The grace period (`live.lives.grace`): a live starts with its host not yet in the room, and when
the host's last connection on a node goes the gateway calls `host_disconnected`; either way, after
`LIVE_GRACE_SECONDS` this node asks presence whether the host is connected anywhere (another node)
or still sending media and, if neither, ends the live. `host_connected` cancels the timer. So a
live whose host never shows up ends too, instead of staying on the live tab forever.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.auth.tokens import Principal
from live.communities.access import Role, membership, require_member, require_reader, role_of
from live.communities.models import Community
from live.errors import ApiError, ErrorCode, not_found
from live.lives import notices, stage
from live.lives.grace import GracePeriod, HostPresence
from live.lives.models import ENDED, LIVE, SCHEDULED, Live, StageSeat
from live.lives.pins import Pins
from live.moderation.sanctions import check_can_speak
from live.notifications import kinds
from live.notifications.service import NotificationService
from live.room_id import RoomId
from live.rooms.channels import encode_event, room_channel
from live.safety.blocks import check_not_blocked
from live.services import Services
from live.storage.base import iso, utcnow
from live.storage.ids import new_id
from live.storage.models import User

log = logging.getLogger("live.lives")


@dataclasses.dataclass(frozen=True, slots=True)
class LiveInfo:
    id: str
    community_id: str
    host_id: str
    status: str
    title: str


class ViewerCounts(Protocol):
    """The rooms' viewers across nodes (`live.rooms.presence.Presence`)."""

    def count(self, room: RoomId) -> int: ...

    async def user_count(self, room: RoomId, user_id: str) -> int: ...


class HlsFacts(Protocol):
    """A live's HLS as its object shows it (`live.media.hls_status.HlsStatus`)."""

    def url(self, lid: str, status: str) -> str | None: ...

    def count(self, lid: str) -> int: ...

    def outside(self, lid: str) -> int: ...


class MediaSenders(Protocol):
    """Who sends media in a live's room (`live.media.publications.Publications`)."""

    def publishers(self, room: str) -> dict[str, list[str]]: ...


def room_of(lid: str) -> RoomId:
    return RoomId.live(lid)


async def read_seats(session: AsyncSession, lid: str) -> tuple[dict[str, str], dict[str, Any]]:
    """A live's stage: user id -> seat state, and user id -> when it last changed."""
    rows = (await session.execute(select(StageSeat).where(StageSeat.live_id == lid))).scalars()
    seats: dict[str, str] = {}
    order: dict[str, Any] = {}
    for seat in rows:
        seats[seat.user_id] = seat.state
        order[seat.user_id] = iso(seat.updated_at)
    return seats, order


def thumbnail_url(live: Live) -> str | None:
    return f"/v1/live/{live.id}/thumbnail.jpg" if live.thumbnail_path else None


class LiveService:
    def __init__(self, services: Services, *, presence: ViewerCounts, hls: HlsFacts, media: MediaSenders,
                 notifier: NotificationService) -> None:
        self.services = services
        self.db = services.db
        self.settings = services.settings
        self.presence = presence
        self.hls = hls
        self.media = media
        self.notifier = notifier
        self.pins = Pins(services.db, services.bus)
        self.grace = GracePeriod(self.settings.live_grace_seconds, self._host_presence, self._host_gone)
        self._peaks: dict[str, int] = {}

    # -- views ----------------------------------------------------------------------------------

    def viewer_count(self, lid: str) -> int:
        """WebSocket/WebRTC viewers, plus HLS players whose user is not also in the room."""
        count = self.hls.outside(lid)
        try:
            return count + self.presence.count(room_of(lid))
        except Exception:  # a count is decoration; the live tab still answers
            log.exception("presence.count failed")
            return count

    def view(self, live: Live, host_name: str) -> dict[str, Any]:
        """A live as the HTTP API and the live.started / live.ended events carry it."""
        return {
            "id": live.id,
            "community_id": live.community_id,
            "host": {"id": live.host_id, "name": host_name},
            "title": live.title,
            "status": live.status,
            "room": room_of(live.id),
            "started_at": iso(live.started_at),
            "starts_at": iso(live.starts_at),
            "ended_at": iso(live.ended_at),
            "viewer_count": self.viewer_count(live.id) if live.status == LIVE else 0,
            "peak_viewers": live.peak_viewers,
            "thumbnail_url": thumbnail_url(live),
            "hls_url": self.hls.url(live.id, live.status),
            "hls_viewer_count": self.hls.count(live.id) if live.status == LIVE else 0,
        }

    async def _host_name(self, session: Any, user_id: str) -> str:
        user = await session.get(User, user_id)
        return user.name if user is not None else user_id

    # -- HTTP -----------------------------------------------------------------------------------

    async def create(self, community_id: str, user: Principal, title: str) -> dict[str, Any]:
        """Go live (members not banned or muted; one live at a time per host: 409 conflict)."""
        async with self.db.session() as session:
            await require_member(session, community_id, user.id)
            await check_can_speak(session, community_id, user.id)
            running = (
                await session.execute(select(Live).where(Live.live_host == user.id).with_for_update())
            ).scalar_one_or_none()
            if running is not None:
                elsewhere = await session.get(Community, running.community_id)
                if elsewhere is not None and elsewhere.deleted_at is None:
                    raise ApiError(ErrorCode.CONFLICT, f"you are already live ({running.id}); end it first")
                # Its community was deleted under it: nobody can watch it, so it is over.
                running.status, running.ended_at, running.live_host = ENDED, utcnow(), None
                running.end_reason = "community_deleted"
                await session.execute(delete(StageSeat).where(StageSeat.live_id == running.id))
                await session.flush()
            live = Live(
                id=new_id(), community_id=community_id, host_id=user.id, title=title, status=LIVE,
                live_host=user.id, started_at=utcnow(), peak_viewers=0,
            )
            session.add(live)
            try:
                await session.flush()
            except IntegrityError:
                raise ApiError(ErrorCode.CONFLICT, "you are already live; end it first") from None
            view = self.view(live, await self._host_name(session, user.id))
            # Queued in the live's own transaction: it commits with the live.
            await notices.queue(self.notifier, session, kinds.LIVE_STARTED, view, self.settings.reminder_minutes)
        self.notifier.kick()
        self.grace.start(live.id, user.id)  # until the host's first connection to the room
        await self.services.events.emit("live.started", {"community_id": community_id, "live": view})
        return view

    async def list_live(self, community_id: str, user: Principal) -> dict[str, Any]:
        """What is live now in the community, most viewers first."""
        async with self.db.session() as session:
            await require_reader(session, community_id, user.id)
            rows = (
                await session.execute(
                    select(Live, User.name)
                    .join(User, User.id == Live.host_id)
                    .where(Live.community_id == community_id, Live.status == LIVE)
                )
            ).all()
        items = [self.view(live, name) for live, name in rows]
        items.sort(key=lambda v: (-v["viewer_count"], v["started_at"] or ""), reverse=False)
        return {"items": items}

    async def list_ended(
        self, community_id: str, user: Principal, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        """Past lives of the community, newest first (ids sort by start time)."""
        async with self.db.session() as session:
            await require_reader(session, community_id, user.id)
            stmt = (
                select(Live, User.name)
                .join(User, User.id == Live.host_id)
                .where(Live.community_id == community_id, Live.status == ENDED)
                .order_by(Live.id.desc())
                .limit(limit + 1)
            )
            if cursor:
                stmt = stmt.where(Live.id < cursor)
            rows = (await session.execute(stmt)).all()
        items = [self.view(live, name) for live, name in rows[:limit]]
        return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}

    async def get(self, lid: str, user: Principal) -> dict[str, Any]:
        async with self.db.session() as session:
            live = await session.get(Live, lid)
            if live is None:
                raise not_found("live")
            await require_reader(session, live.community_id, user.id)
            return self.view(live, await self._host_name(session, live.host_id))

    async def readable(self, lid: str, user: Principal) -> Live:
        """The live, if `user` may read its community (else 404)."""
        async with self.db.session() as session:
            live = await session.get(Live, lid)
            if live is None:
                raise not_found("live")
            await require_reader(session, live.community_id, user.id)
            return live

    async def end(self, lid: str, by: Principal | None, reason: str = "ended") -> dict[str, Any]:
        """End a live (its host, or moderators and up; None: the server, e.g. the grace period)."""
        async with self.db.session() as session:
            live = await session.get(Live, lid, with_for_update=True)
            if live is None:
                raise not_found("live")
            if by is not None and by.id != live.host_id:  # the host may always end their own
                _, member = await require_reader(session, live.community_id, by.id)
                role = role_of(member)
                if role is None or not role.at_least(Role.MODERATOR):
                    raise ApiError(ErrorCode.FORBIDDEN, "only the host or a moderator ends a live")
            if live.status == ENDED:
                raise ApiError(ErrorCode.CONFLICT, "this live has already ended")
            if live.status == SCHEDULED:  # called off before it started (live.lives.schedule)
                reason = "cancelled" if by is not None else reason
            live.peak_viewers = max(live.peak_viewers, self._peaks.get(lid, 0), self.viewer_count(lid))
            live.status = ENDED
            live.ended_at = utcnow()
            live.live_host = None
            live.end_reason = reason
            await session.execute(delete(StageSeat).where(StageSeat.live_id == lid))
            view = self.view(live, await self._host_name(session, live.host_id))
        self._forget(lid)
        await self.services.events.emit("live.ended", {"community_id": live.community_id, "live": view})
        return view

    def _forget(self, lid: str) -> None:
        self._peaks.pop(lid, None)
        self.grace.cancel(lid)

    # -- gateway --------------------------------------------------------------------------------

    async def room_info(self, lid: str) -> LiveInfo | None:
        async with self.db.session() as session:
            live = await session.get(Live, lid)
            if live is None:
                return None
            return LiveInfo(live.id, live.community_id, live.host_id, live.status, live.title)

    async def state(self, lid: str) -> dict[str, Any]:
        """The `state` of a live room's join reply."""
        async with self.db.session() as session:
            live = await session.get(Live, lid)
            if live is None:
                raise not_found("live")
            seats, order = await read_seats(session, lid)
            return {
                "title": live.title,
                "status": live.status,
                "host": {"id": live.host_id, "name": await self._host_name(session, live.host_id)},
                "stage": stage.listing(live.host_id, seats, order),
                "viewer_count": self.viewer_count(lid),
                "pinned": await self.pins.pinned_event(session, live),
            }

    async def stage_action(
        self, lid: str, actor: Principal, kind: str, user_id: str | None = None
    ) -> list[dict[str, str]]:
        """Apply a stage action, persist it, publish `stage.updated`; returns the new stage."""
        async with self.db.session() as session:
            live = await session.get(Live, lid, with_for_update=True)
            if live is None:
                raise not_found("live")
            if live.status != LIVE:
                raise ApiError(ErrorCode.CONFLICT, "this live has ended")
            _, member = await require_reader(session, live.community_id, actor.id)
            role = role_of(member)
            is_host = actor.id == live.host_id
            if kind in ("request", "accept") and not is_host:
                if member is None:
                    raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community go on stage")
                await check_can_speak(session, live.community_id, actor.id)
            if (kind == "invite" and is_host and user_id
                    and await membership(session, live.community_id, user_id) is None):
                raise not_found("member")
            # Neither of two people where one blocked the other brings the other on stage.
            other = user_id if is_host else live.host_id
            if kind in ("request", "invite", "accept") and other:
                await check_not_blocked(session, actor.id, other, "the stage")
            seats, order = await read_seats(session, lid)
            new = stage.apply(
                seats,
                live.host_id,
                stage.Actor(actor.id, is_host, role is not None and role.at_least(Role.MODERATOR)),
                kind,
                user_id,
                self.settings.stage_max_guests,
            )
            now = utcnow()
            gone = [u for u in seats if u not in new]
            if gone:
                await session.execute(
                    delete(StageSeat).where(StageSeat.live_id == lid, StageSeat.user_id.in_(gone))
                )
            for uid, state in new.items():
                if uid not in seats:
                    session.add(StageSeat(live_id=lid, user_id=uid, state=state, updated_at=now))
                    order[uid] = iso(now)
                elif seats[uid] != state:
                    await session.execute(
                        update(StageSeat)
                        .where(StageSeat.live_id == lid, StageSeat.user_id == uid)
                        .values(state=state, updated_at=now)
                    )
                    order[uid] = iso(now)
            await session.flush()
            listing = stage.listing(live.host_id, new, order)
            room = room_of(lid)
            if new != seats:
                # Under the live's row lock, so every node sees stage updates in commit order.
                await self.services.bus.publish(
                    room_channel(room), encode_event({"type": "stage.updated", "room": room, "stage": listing})
                )
        if new != seats:
            # In-process, for the media relay: guests who left the stage stop publishing.
            left = [u for u, s in seats.items() if s == stage.GUEST and new.get(u) != stage.GUEST]
            await self.services.events.emit(
                "stage.changed", {"live_id": lid, "room": room, "stage": listing, "left": left}
            )
        return listing

    async def may_publish(self, lid: str, user_id: str) -> bool:
        """Whether `user_id` may send media in the live: its host or a guest, not banned or muted."""
        async with self.db.session() as session:
            live = await session.get(Live, lid)
            if live is None or live.status != LIVE:
                return False
            if user_id != live.host_id:
                seat = await session.get(StageSeat, (lid, user_id))
                if seat is None or seat.state != stage.GUEST:
                    return False
            try:
                await check_can_speak(session, live.community_id, user_id)
            except ApiError:
                return False
            return True

    def host_connected(self, lid: str, user_id: str) -> None:
        """The host has a connection in the live's room on this node again: no grace timer."""
        self.grace.cancel(lid)

    def host_disconnected(self, lid: str, user_id: str) -> None:
        """The host's last connection on this node went: end the live after the grace period."""
        self.grace.start(lid, user_id)

    async def _host_presence(self, lid: str, host_id: str) -> HostPresence:
        if await self.presence.user_count(room_of(lid), host_id) > 0:
            return HostPresence.CONNECTED  # in the room, through this node or another
        if host_id in self.media.publishers(room_of(lid)):
            return HostPresence.SENDING  # media without a socket (e.g. WHIP from OBS)
        return HostPresence.GONE

    async def _host_gone(self, lid: str, host_id: str) -> None:
        info = await self.room_info(lid)
        if info is None or info.status != LIVE or info.host_id != host_id:
            return
        try:
            await self.end(lid, None, reason="host_left")
        except ApiError as exc:
            if exc.code is not ErrorCode.CONFLICT:  # ended meanwhile: nothing to do
                raise

    async def record_viewers(self, lid: str, count: int) -> None:
        """The global viewer count now (about once a second): keeps `peak_viewers`."""
        if count <= self._peaks.get(lid, 0):
            return
        self._peaks[lid] = count
        async with self.db.session() as session:
            await session.execute(
                update(Live)
                .where(Live.id == lid, Live.status == LIVE, Live.peak_viewers < count)
                .values(peak_viewers=count)
            )

    async def resume_timers(self) -> None:
        """After a start: every running live gets a grace timer, so a live whose host went with
        a crashed node still ends (a host connected anywhere cancels it or is found at expiry)."""
        async with self.db.session() as session:
            rows = (await session.execute(select(Live.id, Live.host_id).where(Live.status == LIVE))).all()
        for lid, host_id in rows:
            self.host_disconnected(lid, host_id)

    async def close(self) -> None:
        await self.grace.close()
