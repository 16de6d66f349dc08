"""Domain events inside one process: HTTP services emit, the gateway turns them into pushes.

A service that changes something clients should hear about in real time (an announcement, a
moderation action, a live starting) calls `events.emit(name, payload)`; whoever cares registers
with `events.on(name, handler)`. Keeping this seam in-process means the HTTP domains never import
the gateway, and the gateway decides how an event crosses nodes (the bus).

One event is about rights rather than news: `access.revoked` (`revoke_access`), emitted after the
commit that took a right away, so that every node takes the people concerned out of the rooms
they may no longer be in (`live.signaling.revocation`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger("live.events")

Handler = Callable[[dict[str, Any]], Awaitable[None]]

ACCESS_REVOKED = "access.revoked"


class Events:
    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)

    def on(self, name: str, handler: Handler) -> None:
        self._handlers[name].append(handler)

    async def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Run every handler of `name`; one failing handler is logged and does not stop others."""
        for handler in list(self._handlers.get(name, ())):
            try:
                await handler(payload)
            except Exception:
                log.exception("event handler for %s failed", name)


def access_revoked(
    *,
    reason: str,
    community_id: str | None = None,
    user_id: str | None = None,
    rooms: Iterable[str] | None = None,
    recheck: bool = True,
) -> dict[str, Any]:
    """The payload of `access.revoked`: which connections it is about, and what happens to them.

    `community_id`, `user_id` and `rooms` narrow the connections concerned (None: any; at least
    one must be given). With `recheck`, each of their rooms is decided again as a join would be
    decided now and only those refused are taken out (a member who leaves a public community
    keeps its live rooms, loses its groups'); without, every one of them is taken out (a
    platform suspension). `reason` is what `room.closed` says.
    """
    if community_id is None and user_id is None and rooms is None:
        raise ValueError("access.revoked needs a community, a user or rooms")
    return {
        "community_id": community_id,
        "user_id": user_id,
        "rooms": sorted(set(rooms)) if rooms is not None else None,
        "reason": reason,
        "recheck": recheck,
    }


async def revoke_access(events: Events, **scope: Any) -> None:
    """Emit `access.revoked` (after the commit that took the right away); see `access_revoked`."""
    await events.emit(ACCESS_REVOKED, access_revoked(**scope))
