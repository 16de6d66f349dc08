"""HTTP: the inbox, push subscriptions, the VAPID key, notification settings."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, Field, model_validator
from sqlalchemy import delete, select

from live.errors import ErrorCode as E, invalid
from live.http.api import Api, Ctx
from live.http.schemas import Body, Query
from live.notifications import endpoints, inbox, prefs, webpush
from live.notifications.models import NotificationSettings, PushSubscription
from live.notifications.service import NotificationService
from live.services import Core
from live.storage.base import iso


class NotificationServices(Core, Protocol):
    """What the notification routes need of the node."""

    notifications: NotificationService


api: Api[NotificationServices] = Api("notifications")


# -- the inbox -----------------------------------------------------------------------------------


class InboxQuery(Query):
    cursor: str | None = Field(None, max_length=512)
    unread: bool = False
    limit: int = Field(20, ge=1, le=100)


@api.get("/v1/me/notifications", query=InboxQuery, errors=[E.INVALID_REQUEST])
async def my_notifications(ctx: Ctx[NotificationServices, None, InboxQuery]) -> dict[str, Any]:
    """Your notifications, newest first (`unread=true`: only unread), with `unread_count`."""
    q = ctx.query
    async with ctx.services.db.session() as session:
        return await inbox.page(session, ctx.user.id, q.cursor, q.unread, q.limit)


class ReadBody(Body):
    ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=500)] | None = None
    all: bool = False

    @model_validator(mode="after")
    def one_of(self) -> ReadBody:
        if not self.all and self.ids is None:
            raise ValueError("give `ids` or `all: true`")
        return self


@api.post("/v1/me/notifications/read", body=ReadBody, errors=[E.INVALID_REQUEST])
async def mark_read(ctx: Ctx[NotificationServices, ReadBody, None]) -> dict[str, Any]:
    """Mark notifications read (`ids`, or `all: true`); answers the new `unread_count`."""
    async with ctx.services.db.session() as session:
        count = await inbox.mark_read(session, ctx.user.id, ctx.body.ids, ctx.body.all, ctx.services.clock.now())
    return {"unread_count": count}


# -- Web Push ------------------------------------------------------------------------------------


@api.get("/v1/web/push-key", auth=False)
async def push_key(ctx: Ctx[NotificationServices, None, None]) -> dict[str, Any]:
    """The server's VAPID public key (base64url, uncompressed P-256): the `applicationServerKey`."""
    return {"public_key": ctx.services.notifications.signer.public_key}


class SubscriptionKeys(BaseModel):
    p256dh: Annotated[str, Field(min_length=1, max_length=100)]
    auth: Annotated[str, Field(min_length=1, max_length=40)]


class SubscriptionBody(Body):
    endpoint: Annotated[str, Field(min_length=1, max_length=endpoints.MAX_ENDPOINT_CHARS)]
    keys: SubscriptionKeys


class EndpointBody(Body):
    endpoint: Annotated[str, Field(min_length=1, max_length=endpoints.MAX_ENDPOINT_CHARS)]


def subscription_id(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode("utf-8")).hexdigest()[:32]


def subscription_view(row: PushSubscription) -> dict[str, Any]:
    return {"id": row.id, "endpoint": row.endpoint, "created_at": iso(row.created_at)}


@api.post("/v1/me/push-subscriptions", body=SubscriptionBody, status=201, errors=[E.INVALID_REQUEST])
async def subscribe(ctx: Ctx[NotificationServices, SubscriptionBody, None]) -> dict[str, Any]:
    """Register this browser's push subscription (the Push API's `subscription.toJSON()`).

    The endpoint must be `https://` on a public address (else 422 naming `endpoint`); the keys
    must be a P-256 point and a 16-byte secret (else 422 naming `keys.p256dh` / `keys.auth`).
    Subscribing an endpoint again replaces it, also when another user had it (one browser, one
    user: whoever signed in last).
    """
    body = ctx.body
    try:
        await endpoints.check(body.endpoint, ctx.services.settings.push_insecure_hosts)
    except endpoints.EndpointRefused as exc:
        raise invalid({"endpoint": str(exc)}, "this push endpoint cannot be used") from None
    try:
        webpush.check_keys(body.keys.p256dh, body.keys.auth)
    except webpush.BadKeys as exc:
        field, _, message = str(exc).partition(": ")
        raise invalid({field: message}, "the push subscription's keys are not valid") from None
    sid = subscription_id(body.endpoint)
    async with ctx.services.db.session() as session:
        await session.execute(delete(PushSubscription).where(PushSubscription.id == sid))
        row = PushSubscription(
            user_id=ctx.user.id, id=sid, endpoint=body.endpoint, p256dh=body.keys.p256dh.rstrip("="),
            auth=body.keys.auth.rstrip("="), created_at=ctx.services.clock.now(),
        )
        session.add(row)
    return subscription_view(row)


@api.delete("/v1/me/push-subscriptions", body=EndpointBody, status=204, errors=[E.INVALID_REQUEST])
async def unsubscribe(ctx: Ctx[NotificationServices, EndpointBody, None]) -> None:
    """Forget a push subscription of yours by its `endpoint` (idempotent)."""
    async with ctx.services.db.session() as session:
        await session.execute(delete(PushSubscription).where(
            PushSubscription.user_id == ctx.user.id, PushSubscription.id == subscription_id(ctx.body.endpoint)
        ))


@api.get("/v1/me/push-subscriptions")
async def my_subscriptions(ctx: Ctx[NotificationServices, None, None]) -> dict[str, Any]:
    """Your push subscriptions (one per browser that asked for pushes)."""
    async with ctx.services.db.session() as session:
        rows = (await session.execute(
            select(PushSubscription).where(PushSubscription.user_id == ctx.user.id)
            .order_by(PushSubscription.created_at)
        )).scalars()
        return {"items": [subscription_view(r) for r in rows]}


# -- settings ------------------------------------------------------------------------------------


def _hhmm(value: str) -> str:
    prefs.parse_hhmm(value)
    return value


def _tz(value: str) -> str:
    prefs.zone(value)
    return value


class QuietHours(BaseModel):
    start: Annotated[str, AfterValidator(_hhmm)]
    end: Annotated[str, AfterValidator(_hhmm)]
    tz: Annotated[str, Field(max_length=64), AfterValidator(_tz)] = "UTC"


class SettingsBody(Body):
    muted_communities: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                                 Field(max_length=prefs.MAX_MUTED)] = []  # noqa: RUF012 - pydantic copies defaults
    quiet_hours: QuietHours | None = None
    daily_limit_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    timezone: Annotated[str, Field(max_length=64), AfterValidator(_tz)] | None = None

    @model_validator(mode="after")
    def one_zone(self) -> SettingsBody:
        if self.quiet_hours and self.timezone and self.quiet_hours.tz != self.timezone:
            raise ValueError("quiet_hours.tz and timezone differ: a user has one time zone")
        return self


@api.get("/v1/me/notification-settings")
async def get_settings(ctx: Ctx[NotificationServices, None, None]) -> dict[str, Any]:
    """Your notification settings: muted communities, quiet hours, daily limit, time zone."""
    async with ctx.services.db.session() as session:
        return prefs.view(await session.get(NotificationSettings, ctx.user.id))


@api.put("/v1/me/notification-settings", body=SettingsBody, errors=[E.INVALID_REQUEST])
async def put_settings(ctx: Ctx[NotificationServices, SettingsBody, None]) -> dict[str, Any]:
    """Replace your notification settings (a field left out takes its default).

    Muted communities and quiet hours (in `tz`, which is also `timezone`: the days of
    `/v1/me/usage`) stop pushes and webhooks about you; your inbox still records everything.
    `daily_limit_minutes`: one `usage.reminder` the day your watching and hosting cross it.
    """
    body = ctx.body
    tz = body.quiet_hours.tz if body.quiet_hours else (body.timezone or "UTC")
    async with ctx.services.db.session() as session:
        row = await session.get(NotificationSettings, ctx.user.id, with_for_update=True)
        if row is None:
            row = NotificationSettings(user_id=ctx.user.id)
            session.add(row)
        row.muted_communities = sorted(set(body.muted_communities))
        row.quiet_start = body.quiet_hours.start if body.quiet_hours else None
        row.quiet_end = body.quiet_hours.end if body.quiet_hours else None
        row.timezone = tz
        row.daily_limit_minutes = body.daily_limit_minutes
        row.updated_at = ctx.services.clock.now()
        await session.flush()
        return prefs.view(row)
