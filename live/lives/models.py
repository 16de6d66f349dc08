"""Tables of live sessions: the live itself and the seats of its stage."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow

LIVE = "live"
ENDED = "ended"
SCHEDULED = "scheduled"


class Live(Base):
    """One broadcast in a community, from going live to its end."""

    __tablename__ = "lives"
    __table_args__ = (
        Index("ix_lives_community_id_status", "community_id", "status"),
        Index("ix_lives_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=LIVE)  # scheduled | live | ended
    # The host's id while the live runs, NULL once it ends: a unique index on it makes "one live
    # at a time per host" hold under racing requests on both databases (NULLs never collide).
    live_host: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    # None while scheduled; set when it goes live.
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A scheduled live: when it is meant to start (live.lives.schedule); None for an unplanned one.
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When its `live.reminder` notification was handed to the outbox (once, by one node).
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    # The chat message (seq in the live's room) the host or a moderator pinned, if any.
    pinned_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thumbnail_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    thumbnail_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StageSeat(Base):
    """Someone on (or asking for, or invited to) a live's stage; the host has no seat."""

    __tablename__ = "stage_seats"

    live_id: Mapped[str] = mapped_column(ForeignKey("lives.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # requested | invited | guest
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveReminder(Base):
    """Someone asked to be told before a scheduled live starts, and when it does."""

    __tablename__ = "live_reminders"

    live_id: Mapped[str] = mapped_column(ForeignKey("lives.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
