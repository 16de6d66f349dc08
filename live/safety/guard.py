"""The HTTP side of a suspension: every write of a suspended account is refused, in one place.

`live.http.api` calls each of `Services.write_guards` for every authenticated request whose
method is not a read (GET, HEAD, OPTIONS), before the body is even read: a new endpoint is
covered the day it is added. The guard reads the account's suspension from the database (one
primary-key lookup), so a suspension made on any node holds on every node from its commit.

A few writes stay open to a suspended account, because they reach nobody else and refusing
them would trap the person or take a right away (`ALLOWED_WHILE_SUSPENDED`): appealing, erasing
the account, blocking and unblocking, leaving a community or a group, watching a live over WHEP
and stopping one's own media, and keeping one's notifications (marking them read, settings, push
subscriptions).
"""

from __future__ import annotations

from live.auth.tokens import Principal
from live.safety.suspensions import check_not_suspended
from live.storage.db import Database

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ALLOWED_WHILE_SUSPENDED: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/v1/moderation/{aid}/appeal"),
    ("DELETE", "/v1/me"),
    ("POST", "/v1/me/blocks"),
    ("DELETE", "/v1/me/blocks/{uid}"),
    ("POST", "/v1/communities/{cid}/leave"),
    ("POST", "/v1/groups/{gid}/leave"),
    ("POST", "/v1/live/{lid}/whep"),
    ("DELETE", "/v1/live/{lid}/whep/{sid}"),
    ("DELETE", "/v1/live/{lid}/whip/{sid}"),
    ("POST", "/v1/me/notifications/read"),
    ("PUT", "/v1/me/notification-settings"),
    ("POST", "/v1/me/push-subscriptions"),
    ("DELETE", "/v1/me/push-subscriptions"),
})


def is_guarded(method: str, path: str) -> bool:
    """Whether a suspended account is refused `method` on the route `path` (a template)."""
    return method not in READ_METHODS and (method, path) not in ALLOWED_WHILE_SUSPENDED


class SuspensionGuard:
    """`Services.write_guards` member: 403 `suspended` for a suspended account's writes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, principal: Principal, method: str, path: str) -> None:
        if not is_guarded(method, path):
            return
        async with self.db.session() as session:
            await check_not_suspended(session, principal.id)
