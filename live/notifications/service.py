"""The notification service: one durable record, three deliveries.

Domains hand over a `Draft` and an `Audience`, inside their own transaction when the fact and
its notification must stand or fall together (a live starting: `queue`), or after their commit
(an announcement, a moderation action: `notify`, from the in-process events). Either way the
notification is first a row in the outbox; the node's sender expands it (live.notifications.
fanout), and the deliveries follow: the `notification` WebSocket event through the bus, Web Push
and webhooks through the outbox (live.notifications.delivery). Nothing waits for them: the
request that started a live is answered once its transaction commits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import msgpack
from sqlalchemy.ext.asyncio import AsyncSession

from live.bus import Message, Subscription
from live.clock import Clock
from live.communities.models import Community
from live.notifications import fanout, kinds
from live.notifications.delivery import PushSender, WebhookSender, http_client
from live.notifications.fanout import Audience, Expander
from live.notifications.kinds import Actor, Draft
from live.notifications.outbox import Handler, Sender
from live.notifications.vapid import VapidSigner
from live.rooms.hub import Hub
from live.services import Services
from live.storage.ids import new_id

log = logging.getLogger("live.notifications")

CHANNEL = "notifications"  # bus channel: {notification, recipients} per fan-out batch
FANOUT_CAP = 2  # fan-outs one node expands at once (each is a stream of database batches)
DESTINATION_CAP = 32  # requests in flight to one push service or webhook receiver, per node

ACTION_TITLES = {
    "ban": "You were banned from {c}",
    "mute": "You were muted in {c}",
    "timeout": "You were timed out in {c}",
    "kick": "You were removed from {c}",
    "delete": "A moderator removed something you wrote in {c}",
    "unban": "Your ban was lifted in {c}",
    "unmute": "Your mute was lifted in {c}",
}


class NotificationService:
    def __init__(self, services: Services, hub: Hub) -> None:
        self.services = services
        self.hub = hub
        settings = services.settings
        self.settings = settings
        self.signer = VapidSigner.from_settings(settings.vapid_private_key, settings.var_dir, settings.vapid_subject)
        self.node_id = new_id()
        self._client: httpx.AsyncClient | None = None
        self.push = PushSender(services.db, self.client, self.signer, settings.push_insecure_hosts, lambda: self.clock)
        handlers: dict[str, Handler] = {
            fanout.KIND: Expander(lambda: self.sender, settings.webhook_urls, self.publish),
            "push": self.push,
            "webhook": WebhookSender(self.client, settings.webhook_secret or ""),
        }
        self.sender = Sender(
            services.db, lambda: self.clock, self.node_id, handlers,
            cap=lambda dest: FANOUT_CAP if dest == fanout.KIND else DESTINATION_CAP,
        )
        self._sub: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def clock(self) -> Clock:
        return self.services.clock

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = http_client(self.settings.delivery_timeout_seconds)
        return self._client

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._sub = self.services.bus.subscription()
        await self._sub.subscribe(CHANNEL)
        self._reader = asyncio.create_task(self._read(), name="notifications-reader")
        events = self.services.events
        events.on("announcement", self._on_announcement)
        events.on("moderation.action", self._on_moderation)
        events.on("join_request.decided", self._on_join_request)
        events.on("report.resolved", self._on_report)
        events.on("appeal.decided", self._on_appeal)
        events.on("live.ended", self._on_live_ended)
        events.on("member.joined", self._on_member_joined)
        self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()
        if self._sub is not None:
            await self._sub.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def kick(self) -> None:
        self.sender.kick()

    # -- what domains call ----------------------------------------------------------------------

    def queue(self, session: AsyncSession, draft: Draft, audience: Audience) -> str:
        """Queue a notification in the caller's transaction (call `kick()` after the commit)."""
        return fanout.queue(session, draft, audience, self.clock.now())

    def queue_webhook(self, session: AsyncSession, type_: str, data: dict[str, Any]) -> str | None:
        """Queue a webhook event in the caller's transaction (no URLs configured: nothing)."""
        return fanout.queue_webhook(session, self.settings.webhook_urls, type_, data, self.clock.now())

    async def notify(self, draft: Draft, audience: Audience) -> str:
        """Queue a notification in a transaction of its own, and start sending it."""
        async with self.services.db.session() as session:
            nid = self.queue(session, draft, audience)
        self.kick()
        return nid

    async def webhook(self, type_: str, data: dict[str, Any]) -> None:
        if not self.settings.webhook_urls:
            return
        async with self.services.db.session() as session:
            self.queue_webhook(session, type_, data)
        self.kick()

    # -- the WebSocket delivery -----------------------------------------------------------------

    async def publish(self, notification: dict[str, Any], recipients: list[str]) -> None:
        """Every node writes `notification` to its connections of `recipients`."""
        await self.services.bus.publish(
            CHANNEL, msgpack.packb({"notification": notification, "recipients": recipients}, use_bin_type=True)
        )

    async def _read(self) -> None:
        assert self._sub is not None
        async for item in self._sub:
            if not isinstance(item, Message):
                continue  # a gap: the inbox has what was missed
            try:
                data = msgpack.unpackb(item.data, raw=False)
                self.deliver_local(data["notification"], data["recipients"])
            except Exception:
                log.exception("delivering a notification to local connections failed")

    def deliver_local(self, notification: dict[str, Any], recipients: list[str]) -> int:
        """Write the `notification` event to this node's connections of `recipients`."""
        return self.hub.send_users(recipients, [{"type": "notification", "notification": notification}])

    # -- from domain events (after their commit) ------------------------------------------------

    async def _community_name(self, cid: str | None) -> str:
        if not cid:
            return "a community"
        async with self.services.db.session() as session:
            community = await session.get(Community, cid)
        return community.name if community is not None else "a community"

    async def _actor(self, user_id: str | None) -> Actor | None:
        if not user_id:
            return None
        user = await self.services.users.get(user_id)
        name = user.name if user is not None else user_id
        return Actor(user_id, name)

    async def _on_announcement(self, payload: dict[str, Any]) -> None:
        cid = payload.get("community_id")
        name = await self._community_name(cid)
        author = payload.get("author_id")
        await self.notify(
            Draft(kinds.ANNOUNCEMENT, f"Announcement in {name}", str(payload.get("text") or ""),
                  kinds.community_url(str(cid), "groups"), community_id=cid, actor=await self._actor(author)),
            Audience(community_id=cid, members=True, groups=tuple(payload.get("group_ids") or ()),
                     exclude=(author,) if author else ()),
        )

    async def _on_moderation(self, payload: dict[str, Any]) -> None:
        user_id, action, cid = payload.get("user_id"), payload.get("action"), payload.get("community_id")
        if not user_id or not action:
            return
        name = await self._community_name(cid)
        title = ACTION_TITLES.get(str(action), "A moderator acted ({a}) in {c}").format(c=name, a=action)
        body = f"Reason: {payload.get('reason') or 'none given'}"
        if payload.get("until"):
            body += f" (until {payload['until']})"
        await self.notify(
            Draft(kinds.MODERATION_NOTICE, title, body, kinds.community_url(str(cid), "moderation"), community_id=cid),
            Audience(users=(user_id,)),
        )

    async def _on_join_request(self, payload: dict[str, Any]) -> None:
        user_id, cid, status = payload.get("user_id"), payload.get("community_id"), payload.get("status")
        if not user_id or status not in ("approved", "rejected"):
            return
        name = await self._community_name(cid)
        await self.notify(
            Draft(kinds.JOIN_REQUEST_DECIDED, f"Your request to join {name} was {status}",
                  "Welcome!" if status == "approved" else "", kinds.community_url(str(cid)), community_id=cid),
            Audience(users=(user_id,)),
        )

    async def _on_report(self, payload: dict[str, Any]) -> None:
        user_id, cid = payload.get("reporter_id"), payload.get("community_id")
        if not user_id:
            return
        name = await self._community_name(cid)
        await self.notify(
            Draft(kinds.REPORT_RESOLVED, f"Your report in {name} was answered", str(payload.get("resolution") or ""),
                  kinds.community_url(str(cid), "moderation"), community_id=cid),
            Audience(users=(user_id,)),
        )

    async def _on_appeal(self, payload: dict[str, Any]) -> None:
        user_id, cid, status = payload.get("user_id"), payload.get("community_id"), payload.get("status")
        if not user_id:
            return
        name = await self._community_name(cid)
        await self.notify(
            Draft(kinds.APPEAL_DECIDED, f"Your appeal in {name} was {status}", str(payload.get("response") or ""),
                  kinds.community_url(str(cid), "moderation"), community_id=cid),
            Audience(users=(user_id,)),
        )

    async def _on_live_ended(self, payload: dict[str, Any]) -> None:
        await self.webhook("live.ended", {"community_id": payload.get("community_id"), "live": payload.get("live")})

    async def _on_member_joined(self, payload: dict[str, Any]) -> None:
        if not self.settings.webhook_urls:
            return
        actor = await self._actor(payload.get("user_id"))
        await self.webhook("member.joined", {
            "community_id": payload.get("community_id"),
            "user": {"id": actor.id, "name": actor.name} if actor else None,
            "role": payload.get("role"),
            "via": payload.get("via"),
        })
