"""What a live's notifications say and who gets them (queued in the live's own transaction).

- `live.started`: the community's members and followers and whoever asked for a reminder of it,
  not the host. Queued in the transaction that makes the live `live`, so a live never starts
  without its notification being on its way, even if the node dies the next instant.
- `live.scheduled`: members and followers, when a live is planned.
- `live.reminder`: whoever asked, `LIVE_REMINDER_MINUTES` before `starts_at`.
Each also goes out as a webhook event (`live.started`, `live.scheduled`) for operators.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.models import Community
from live.notifications import kinds
from live.notifications.fanout import Audience
from live.notifications.kinds import Actor, Draft
from live.notifications.service import NotificationService


def audience(live_view: dict[str, Any], *, reminders: bool) -> Audience:
    return Audience(
        community_id=live_view["community_id"], members=True, followers=True,
        reminders=live_view["id"] if reminders else None, exclude=(live_view["host"]["id"],),
    )


def _actor(live_view: dict[str, Any]) -> Actor:
    host = live_view["host"]
    return Actor(host["id"], host.get("name") or host["id"])


def draft(kind: str, live_view: dict[str, Any], community: str, reminder_minutes: int = 10) -> Draft:
    host = live_view["host"].get("name") or live_view["host"]["id"]
    title = live_view.get("title") or "a live"
    if kind == kinds.LIVE_STARTED:
        head = f"{host} is live in {community}"
    elif kind == kinds.LIVE_SCHEDULED:
        head = f"{host} scheduled a live in {community}"
    else:
        head = f"Starting in {reminder_minutes} minutes in {community}"
    return Draft(kind, head, title, kinds.live_url(live_view["id"]), community_id=live_view["community_id"],
                 live_id=live_view["id"], actor=_actor(live_view))


async def queue(notifier: NotificationService, session: AsyncSession, kind: str, live_view: dict[str, Any],
                reminder_minutes: int) -> None:
    """Queue the notification and webhook of `kind` about a live, in the caller's transaction."""
    community = await session.get(Community, live_view["community_id"])
    name = community.name if community is not None else "a community"
    reminders = kind != kinds.LIVE_SCHEDULED
    if kind == kinds.LIVE_REMINDER:
        who = Audience(reminders=live_view["id"], exclude=(live_view["host"]["id"],))
    else:
        who = audience(live_view, reminders=reminders)
    notifier.queue(session, draft(kind, live_view, name, reminder_minutes), who)
    if kind in (kinds.LIVE_STARTED, kinds.LIVE_SCHEDULED):
        notifier.queue_webhook(session, kind, {"community_id": live_view["community_id"], "live": live_view})
