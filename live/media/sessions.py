"""WHIP and WHEP sessions on this node: what each `Location` names, until it is deleted or
collected.

A session expires when its live ended, when its peer connection is gone (the publisher stopped
sending, the relay dropped the viewer), or when a newer session of the same user and kind
replaced it; its `DELETE` is then 404 like any unknown session.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from typing import Any

from live.lives.service import LiveService
from live.media.service import MediaService
from live.room_id import RoomId
from live.services import Services

log = logging.getLogger("live.media")

SWEEP_SECONDS = 5.0


@dataclasses.dataclass
class Session:
    """A WHIP or WHEP session: what its `Location` names, until it is deleted or collected."""

    sid: str
    room: str
    user_id: str
    kind: str  # "whip" | "whep"
    publisher: str
    created: float  # time.monotonic()
    seen: bool = False  # its peer connection was seen in the relay at least once


class Sessions:
    """This node's WHIP/WHEP sessions, and their collection.

    A session is alive while its live is, and while its peer connection is: a WHIP session while
    its user publishes in the room, a WHEP session while the publisher it watches does and the
    relay still holds the viewer's subscription. With media workers this node learns of a new
    publication a moment after the answer, so a session not yet seen there is given `settle`
    seconds (the media timeout) before that counts against it. Dead sessions go at once on
    `live.ended`, every SWEEP_SECONDS, and whenever one is asked for (so a DELETE never acts on
    a dead one).
    """

    def __init__(self, services: Services, media: MediaService, lives: LiveService) -> None:
        self.services = services
        self.media = media
        self.lives = lives
        self.settle = float(services.settings.media_timeout_seconds)
        self.by_id: dict[str, Session] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.services.events.on("live.ended", self.on_live_ended)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="whip-session-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self.by_id.clear()

    def add(self, room: str, user_id: str, kind: str, publisher: str) -> Session:
        # A new session of the same user and kind replaces the old one in the relay (a publisher
        # has one publication per room, a viewer one subscription per publisher): the old
        # Location would otherwise stop the new session's media.
        for old in [s for s in self.by_id.values()
                    if (s.room, s.user_id, s.kind, s.publisher) == (room, user_id, kind, publisher)]:
            del self.by_id[old.sid]
        session = Session(secrets.token_urlsafe(16), room, user_id, kind, publisher, time.monotonic(),
                          seen=publisher in self.media.publishers(room))
        self.by_id[session.sid] = session
        return session

    async def get(self, sid: str) -> Session | None:
        """The live session called `sid`, or None (unknown, deleted, or dead and now collected)."""
        session = self.by_id.get(sid)
        if session is None:
            return None
        if not await self._live_is_on(session.room) or not await self._peer_is_there(session):
            self.by_id.pop(sid, None)
            return None
        return session

    def remove(self, sid: str) -> None:
        self.by_id.pop(sid, None)

    async def on_live_ended(self, payload: dict[str, Any]) -> None:
        room = RoomId.live(str((payload.get("live") or {}).get("id")))
        for sid in [s.sid for s in self.by_id.values() if s.room == room]:
            self.by_id.pop(sid, None)

    async def sweep(self) -> int:
        """Collect every dead session now; how many went."""
        gone = 0
        rooms_on = {room: await self._live_is_on(room) for room in {s.room for s in self.by_id.values()}}
        for session in list(self.by_id.values()):
            gone_now = not rooms_on.get(session.room, False) or not await self._peer_is_there(session)
            if gone_now and self.by_id.pop(session.sid, None) is not None:
                gone += 1
        return gone

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception:  # the next sweep tries again
                log.warning("collecting WHIP/WHEP sessions failed", exc_info=True)

    async def _live_is_on(self, room: str) -> bool:
        info = await self.lives.room_info(RoomId.parse(room).ident)
        return info is not None and info.status == "live"

    async def _peer_is_there(self, session: Session) -> bool:
        there = session.publisher in self.media.publishers(session.room)
        if there and session.kind == "whep":
            # Unknown (None) with media workers: the publisher's presence is all this node sees.
            there = await self.media.subscribed(session.room, session.user_id, session.publisher) is not False
        if there:
            session.seen = True
            return True
        return not session.seen and time.monotonic() - session.created < self.settle


