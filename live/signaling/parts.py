"""What the gateway needs of the services above it, as small Protocols.

The live service (`live.lives.service.LiveService`), the media service
(`live.media.service.MediaService`) and the HLS viewer counts (`live.media.hls_status.HlsStatus`)
each depend on parts below the gateway; the gateway depends only on these shapes, and the
composition root (`live.app`) hands it the real ones.
"""

from __future__ import annotations

from typing import Any, Protocol

from live.auth.tokens import Principal
from live.rooms.access import LiveDirectory


class LiveRooms(LiveDirectory, Protocol):
    """Live sessions, as their rooms need them."""

    async def state(self, lid: str) -> dict[str, Any]:
        """The `state` of a live room's join reply."""
        ...

    async def stage_action(self, lid: str, actor: Principal, kind: str,
                           user_id: str | None = None) -> list[dict[str, str]]: ...

    def host_connected(self, lid: str, user_id: str) -> None: ...

    def host_disconnected(self, lid: str, user_id: str) -> None: ...

    async def record_viewers(self, lid: str, count: int) -> None: ...


class Answer(Protocol):
    """An SDP answer and the media process that gave it."""

    @property
    def sdp(self) -> str: ...
    @property
    def worker(self) -> str: ...


class MediaRequests(Protocol):
    """Media negotiation, as `media.publish` / `media.subscribe` / `media.stop` need it."""

    async def publish(self, room: str, user: Principal, sdp: str) -> Answer: ...

    async def subscribe(self, room: str, user: Principal, sdp: str, publisher: str | None) -> Answer: ...

    async def stop(self, room: str, user: Principal, publisher: str | None) -> None: ...


class HlsCounts(Protocol):
    """HLS players of a live not also in its room (added to `room.viewers`)."""

    def outside(self, lid: str) -> int: ...
