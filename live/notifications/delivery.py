"""The outbox handlers that leave the machine: Web Push to push services, webhooks to operators.

One shared `httpx.AsyncClient` (connection reuse per push service), every request bounded by
`LIVE_DELIVERY_TIMEOUT_SECONDS`; redirects are not followed (a push service or receiver that
redirects is answered as a failure, and no redirect can lead a request to a private address).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import httpx
from sqlalchemy import delete

from live.clock import Clock
from live.notifications import endpoints, webhooks, webpush
from live.notifications.models import PushSubscription
from live.notifications.outbox import DONE, Attempt, Item, Outcome
from live.notifications.vapid import VapidSigner
from live.storage.db import Database

log = logging.getLogger("live.notifications.delivery")

USER_AGENT = "live-notifications/1"


def http_client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


class PushSender:
    """The `push` handler: one encrypted, signed POST to one subscription's endpoint."""

    def __init__(self, db: Database, client: Callable[[], httpx.AsyncClient], signer: VapidSigner,
                 insecure_hosts: frozenset[str], clock: Callable[[], Clock]) -> None:
        self.db = db
        self._client = client
        self.signer = signer
        self.insecure_hosts = insecure_hosts
        self._clock = clock
        self.on_gone: Callable[[str, str], None] | None = None  # (user id, endpoint): tests, metrics

    async def __call__(self, item: Item) -> Attempt:
        async with self.db.session() as session:
            sub = await session.get(PushSubscription, (item.payload["user_id"], item.payload["sub"]))
            if sub is None:
                return DONE  # unsubscribed (or gone) since: nothing to send
            endpoint, p256dh, auth = sub.endpoint, sub.p256dh, sub.auth
        try:
            await endpoints.check(endpoint, self.insecure_hosts)
        except endpoints.EndpointRefused as exc:
            return Attempt(Outcome.RETRY, f"endpoint refused now: {exc}")  # DNS may change back
        notification = item.payload["notification"]
        body = json.dumps(notification, separators=(",", ":"), ensure_ascii=False).encode()
        request = webpush.build(
            endpoint, p256dh, auth, body,
            self.signer.authorization(endpoints.origin(endpoint), time.time()),
            urgency="high" if notification.get("kind") in ("live.started", "live.reminder") else "normal",
        )
        try:
            response = await self._client().post(request.url, content=request.body, headers=request.headers)
        except httpx.HTTPError as exc:
            return Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])
        outcome = webpush.classify(response.status_code)
        if outcome is webpush.Outcome.SENT:
            return DONE
        if outcome is webpush.Outcome.GONE:
            async with self.db.session() as session:
                await session.execute(delete(PushSubscription).where(PushSubscription.id == item.payload["sub"]))
            log.info("push subscription of %s is gone (%d): removed", item.payload["user_id"], response.status_code)
            if self.on_gone is not None:
                self.on_gone(item.payload["user_id"], endpoint)
            return DONE
        error = f"HTTP {response.status_code}: {response.text[:200]}"
        if outcome is webpush.Outcome.RETRY:
            return Attempt(Outcome.RETRY, error)
        return Attempt(Outcome.DROP, error)


class WebhookSender:
    """The `webhook` handler: the stored body, freshly signed, POSTed to one URL."""

    def __init__(self, client: Callable[[], httpx.AsyncClient], secret: str) -> None:
        self._client = client
        self.secret = secret

    async def __call__(self, item: Item) -> Attempt:
        body = item.payload["body"].encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            webhooks.SIGNATURE_HEADER: webhooks.signature(self.secret, body, int(time.time())),
            "Live-Event-Id": item.payload["id"],
        }
        try:
            response = await self._client().post(item.payload["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= response.status_code < 300:
            return DONE
        return Attempt(Outcome.RETRY, f"HTTP {response.status_code}: {response.text[:200]}")
