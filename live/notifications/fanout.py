"""Expanding one notification to its audience: inbox rows, WebSocket events, pushes, webhooks.

A fan-out is an outbox row (`kind = "fanout"`) holding the draft, its id and time, who it is for
(`Audience`) and how far it got (`cursor`: the last recipient done). The sender runs it in
batches of `BATCH` recipients taken in user-id order; each batch is one transaction that

- inserts the batch's inbox rows (ON CONFLICT DO NOTHING: a batch redone after a lost lease
  adds nothing),
- queues one push per push subscription of the recipients not holding it back (mutes, quiet
  hours), and one `notification.created` webhook per URL naming those recipients,
- and moves the cursor, under this node's lease.

After the commit, one bus message per batch carries `{notification, recipients}` to every node,
which writes the `notification` event to the local connections of those recipients (encoded once
per wire encoding). A node that dies mid-way leaves the cursor at the last committed batch; its
lease runs out and any node carries on from there, so every recipient gets exactly one inbox
row. (The WebSocket events of the batch in flight at the crash are lost with the node's
sockets; clients read their inbox when they reconnect.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Select, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.follows import Follow
from live.communities.models import Community, GroupMember, Membership
from live.lives.models import LiveReminder
from live.notifications import endpoints, kinds, prefs, webhooks
from live.notifications.models import Notification, PushSubscription
from live.notifications.outbox import DONE, Attempt, Item, Outcome, Sender, enqueue
from live.storage.ids import new_id
from live.storage.models import User

log = logging.getLogger("live.notifications.fanout")

BATCH = 1000
KIND = "fanout"


class LeaseLost(Exception):
    """Another node took this fan-out over (this node was too slow): stop, it carries on."""


@dataclasses.dataclass(frozen=True, slots=True)
class Audience:
    """Who a notification is for, read batch by batch when it is sent (not when it is made)."""

    community_id: str | None = None
    members: bool = False  # the community's members (of `groups` only, when given)
    groups: tuple[str, ...] = ()
    followers: bool = False  # followers of the community, while it is public
    reminders: str | None = None  # who asked for a reminder of this live
    users: tuple[str, ...] = ()  # these users, explicitly
    exclude: tuple[str, ...] = ()  # never these (the actor)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audience:
        return cls(
            community_id=data.get("community_id"), members=bool(data.get("members")),
            groups=tuple(data.get("groups") or ()), followers=bool(data.get("followers")),
            reminders=data.get("reminders"), users=tuple(data.get("users") or ()),
            exclude=tuple(data.get("exclude") or ()),
        )


async def audience_batch(session: AsyncSession, audience: Audience, after: str, limit: int) -> list[str]:
    """The next `limit` recipients after `after`, in user-id order."""
    sources: list[Select[Any]] = []
    cid = audience.community_id
    if cid is not None and audience.members:
        if audience.groups:
            sources.append(
                select(GroupMember.user_id.label("user_id"))
                .join(Membership, (Membership.user_id == GroupMember.user_id) & (Membership.community_id == cid))
                .where(GroupMember.group_id.in_(audience.groups))
            )
        else:
            sources.append(select(Membership.user_id.label("user_id")).where(Membership.community_id == cid))
    if cid is not None and audience.followers:
        sources.append(
            select(Follow.user_id.label("user_id"))
            .join(Community, Community.id == Follow.community_id)
            .where(Follow.community_id == cid, Community.read_policy == "public")
        )
    if audience.reminders:
        sources.append(select(LiveReminder.user_id.label("user_id")).where(LiveReminder.live_id == audience.reminders))
    found: set[str] = set()
    if sources:
        every = union(*sources).subquery() if len(sources) > 1 else sources[0].subquery()
        stmt = select(every.c.user_id).where(every.c.user_id > after)
        if audience.exclude:
            stmt = stmt.where(every.c.user_id.not_in(audience.exclude))
        found = set((await session.execute(stmt.order_by(every.c.user_id).limit(limit))).scalars())
    if audience.users:
        # Only accounts that exist: an erased user is not written to again.
        named = sorted({u for u in audience.users if u > after and u not in audience.exclude})[:limit]
        found |= set((await session.execute(select(User.id).where(User.id.in_(named)))).scalars())
    return sorted(found)[:limit]


def fanout_payload(nid: str, draft: kinds.Draft, created_at: dt.datetime, audience: Audience) -> dict[str, Any]:
    return {
        "nid": nid, "draft": draft.to_json(), "created_at": created_at.isoformat(),
        "audience": audience.to_json(), "cursor": "",
    }


def queue(session: AsyncSession, draft: kinds.Draft, audience: Audience, now: dt.datetime) -> str:
    """Queue a notification for `audience` in the caller's transaction; its id."""
    nid = new_id()
    enqueue(session, KIND, KIND, fanout_payload(nid, draft, now, audience), now, item_id=nid)
    return nid


def queue_webhook(session: AsyncSession, urls: tuple[str, ...], type_: str, data: dict[str, Any],
                  now: dt.datetime, event_id: str | None = None) -> str | None:
    """Queue one webhook event to every URL (one event id for all of them)."""
    if not urls:
        return None
    eid = event_id or new_id()
    body = webhooks.envelope(eid, type_, now, data)
    for url in urls:
        enqueue(session, "webhook", endpoints.destination(url), {"url": url, "id": eid, "body": body}, now)
    return eid


def _insert_ignore(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Notification)
    return stmt.on_conflict_do_nothing()


Publish = Callable[[dict[str, Any], list[str]], Awaitable[None]]


class Expander:
    """The outbox handler of `fanout` rows."""

    def __init__(self, sender: Callable[[], Sender], webhook_urls: tuple[str, ...], publish: Publish,
                 batch: int = BATCH) -> None:
        self._sender = sender
        self.webhook_urls = webhook_urls
        self.publish = publish
        self.batch = batch

    async def __call__(self, item: Item) -> Attempt:
        try:
            return await self._expand(item)
        except LeaseLost:
            return Attempt(Outcome.RETRY, "another node took this fan-out over")

    async def _expand(self, item: Item) -> Attempt:
        sender = self._sender()
        data = item.payload
        draft = data["draft"]
        audience = Audience.from_json(data["audience"])
        created_at = dt.datetime.fromisoformat(data["created_at"])
        notification = kinds.wire(data["nid"], draft, created_at)
        while True:
            now = sender.clock.now()
            async with sender.db.session() as session:
                users = await audience_batch(session, audience, data["cursor"], self.batch)
                if not users:
                    return DONE
                queued = await self._batch(session, notification, users, now)
                data["cursor"] = users[-1]
                if await sender.renew(session, item, data) == 0:
                    raise LeaseLost(item.id)
            try:
                await self.publish(notification, users)
            except Exception as exc:  # noqa: BLE001 - the inbox has it; live delivery is best effort
                log.warning("publishing notification %s failed: %s", notification["id"], exc)
            if queued:
                sender.kick()

    async def _batch(self, session: AsyncSession, notification: dict[str, Any], users: list[str],
                     now: dt.datetime) -> int:
        """This batch's rows; how many pushes and webhooks it queued."""
        draft = notification
        created_at = dt.datetime.fromisoformat(notification["created_at"].replace("Z", "+00:00"))
        await session.execute(_insert_ignore(session), [
            {
                "user_id": uid, "id": notification["id"], "kind": draft["kind"],
                "community_id": draft.get("community_id"), "live_id": draft.get("live_id"),
                "actor_id": (draft.get("actor") or {}).get("id"), "actor_name": (draft.get("actor") or {}).get("name"),
                "title": draft["title"], "body": draft.get("body") or "", "url": draft["url"],
                "created_at": created_at,
            }
            for uid in users
        ])
        settings = await prefs.load_many(session, users)
        eligible = [u for u in users if not settings.get(u, prefs.DEFAULT).holds_back(draft.get("community_id"), now)]
        queued = 0
        if eligible:
            subs = (await session.execute(
                select(PushSubscription).where(PushSubscription.user_id.in_(eligible))
            )).scalars().all()
            for sub in subs:
                try:
                    dest = endpoints.destination(sub.endpoint)
                except endpoints.EndpointRefused:
                    continue
                payload = {"sub": sub.id, "user_id": sub.user_id, "notification": notification}
                enqueue(session, "push", dest, payload, now)
                queued += 1
            if queue_webhook(session, self.webhook_urls, "notification.created",
                             {"notification": notification, "recipients": eligible}, now):
                queued += 1
        return queued

