"""What a community ban or kick, or a platform suspension, does to the user's lives: the lives
they host end (`host_banned`, `host_kicked`, `host_suspended`) and they leave every stage.

Heard as domain events after the action's commit: `moderation.action` (a ban or kick), and a
suspension's `moderation.notice` (after the user was told and taken out of their rooms).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select

from live.auth.tokens import Principal
from live.bus import Bus
from live.errors import ApiError, ErrorCode
from live.events import Events
from live.lives import stage
from live.lives.models import LIVE, Live, StageSeat
from live.lives.service import LiveService, read_seats
from live.room_id import RoomId
from live.rooms.channels import encode_event, room_channel
from live.storage.db import Database

log = logging.getLogger("live.lives")


class LiveSanctions:
    """The lives and stages of a sanctioned user."""

    def __init__(self, db: Database, bus: Bus, events: Events, lives: LiveService) -> None:
        self.db = db
        self.bus = bus
        self.events = events
        self.lives = lives

    async def on_moderation_action(self, payload: dict[str, Any]) -> None:
        """A host banned or kicked from the community stops hosting there at once."""
        action, user_id = payload.get("action"), payload.get("user_id")
        if action not in ("ban", "kick") or not user_id:
            return
        async with self.db.session() as session:
            lid = (
                await session.execute(
                    select(Live.id).where(
                        Live.live_host == user_id, Live.community_id == payload.get("community_id")
                    )
                )
            ).scalar_one_or_none()
        if lid is not None:
            try:
                await self.lives.end(lid, None, reason="host_banned" if action == "ban" else "host_kicked")
            except ApiError as exc:
                if exc.code is not ErrorCode.CONFLICT:
                    raise
        # Off every stage of the community, too.
        async with self.db.session() as session:
            seated = (
                await session.execute(
                    select(StageSeat.live_id)
                    .join(Live, Live.id == StageSeat.live_id)
                    .where(
                        StageSeat.user_id == user_id,
                        Live.community_id == payload.get("community_id"),
                        Live.status == LIVE,
                    )
                )
            ).scalars().all()
        for seated_lid in seated:
            await self._unseat(seated_lid, user_id)

    async def on_moderation_notice(self, payload: dict[str, Any]) -> None:
        """A platform suspension (`moderation.notice`, scope `platform`, after the user was told
        and taken out of their rooms): their lives end, and they leave every stage."""
        user_id = payload.get("user_id")
        if payload.get("scope") != "platform" or payload.get("action") != "suspend" or not isinstance(user_id, str):
            return
        async with self.db.session() as session:
            hosting = (await session.execute(select(Live.id).where(Live.live_host == user_id))).scalars().all()
            seated = (
                await session.execute(
                    select(StageSeat.live_id).join(Live, Live.id == StageSeat.live_id)
                    .where(StageSeat.user_id == user_id, Live.status == LIVE)
                )
            ).scalars().all()
        for lid in hosting:
            try:
                await self.lives.end(lid, None, reason="host_suspended")
            except ApiError as exc:
                if exc.code is not ErrorCode.CONFLICT:  # ended meanwhile
                    raise
        for lid in seated:
            try:  # leaving the stage as themselves: the same path as a guest who steps down
                await self.lives.stage_action(lid, Principal(id=user_id, name=user_id), "remove")
            except ApiError as exc:
                log.info("taking %s off the stage of %s: %s", user_id, lid, exc.message)

    async def _unseat(self, lid: str, user_id: str) -> None:
        async with self.db.session() as session:
            live = await session.get(Live, lid, with_for_update=True)
            if live is None or live.status != LIVE:
                return
            seats, order = await read_seats(session, lid)
            if user_id not in seats:
                return
            was = seats.pop(user_id)
            await session.execute(delete(StageSeat).where(StageSeat.live_id == lid, StageSeat.user_id == user_id))
            listing = stage.listing(live.host_id, seats, order)
            room = RoomId.live(lid)
            await self.bus.publish(
                room_channel(room), encode_event({"type": "stage.updated", "room": room, "stage": listing})
            )
        await self.events.emit(
            "stage.changed",
            {"live_id": lid, "room": room, "stage": listing, "left": [user_id] if was == stage.GUEST else []},
        )
