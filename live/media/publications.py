"""Who sends media in which live room, as this node last heard from the media processes.

Kept apart from the media service so that the live service can ask it (is a host who left the
room still sending, from OBS say?) without depending on the media service, which itself asks the
live service who may publish.
"""

from __future__ import annotations


class Publications:
    """room -> {user id: the kinds they send}, written by the media service."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, list[str]]] = {}

    def publishers(self, room: str) -> dict[str, list[str]]:
        return dict(self.rooms.get(room, {}))
