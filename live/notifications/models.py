"""Tables of notifications: the inbox, push subscriptions, per-user settings, and the outbox.

- `notifications`: one row per (recipient, notification). A notification sent to many people (a
  live starting, to 10,000 members) has one `id` shared by all its rows: the same id reaches the
  WebSocket event, the push payload and the webhook, and is how every consumer deduplicates.
- `push_subscriptions`: a browser's Push API subscription (RFC 8030 endpoint, RFC 8291 keys). Its
  id is a hash of the endpoint and unique: a browser belongs to whoever subscribed it last.
- `notification_settings`: muted communities, quiet hours in a time zone, the daily usage limit.
- `outbox`: work that must survive a crash: fan-outs still to expand, pushes and webhooks still to
  send. Rows are claimed with a lease (any node may send; one node at a time per row) and deleted
  once done (live.notifications.outbox).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow


class Notification(Base):
    """One notification in one user's inbox."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_read_at", "user_id", "read_at"),)

    # (user_id, id) is the key and the inbox's order: ids sort by creation time.
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    community_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    live_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PushSubscription(Base):
    """A Web Push subscription of one browser for one user."""

    __tablename__ = "push_subscriptions"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # sha256 of the endpoint (hex, 32 chars): unique, so one browser reaches one user.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, unique=True)
    endpoint: Mapped[str] = mapped_column(Text)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationSettings(Base):
    """What a user wants of pushes and webhooks about them (no row: the defaults)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    muted_communities: Mapped[list[str]] = mapped_column(JSON, default=list)
    quiet_start: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "HH:MM"
    quiet_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    daily_limit_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The local day (YYYY-MM-DD) a `usage.reminder` was last sent: one per day, across nodes.
    usage_reminded_on: Mapped[str | None] = mapped_column(String(10), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxItem(Base):
    """One unit of delivery work, kept until it is done (or 24 h of retries have failed)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_next_attempt_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # fanout | push | webhook
    # Where it goes (`host:port` of the URL; `fanout` for expansions): the unit of concurrency,
    # so a slow push service or webhook receiver only ever holds up its own rows.
    destination: Mapped[str] = mapped_column(String(300))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
