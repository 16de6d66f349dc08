"""Tables of moderation: the action log, standing sanctions, reports and appeals.

`moderation_actions` is the append-only record every member can read (the log). `sanctions` is
the current state derived from it: at most one ban and one mute per (community, user), with an
optional `until`; a sanction whose `until` has passed simply no longer counts (checked on read),
so nothing has to wake up to lift it. User ids here are plain strings, not foreign keys, so the
log outlives an erased account (the id is then replaced by a tombstone).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow


class ModerationAction(Base):
    """One thing a moderator did: mute, timeout, ban, unban, kick or delete."""

    __tablename__ = "moderation_actions"
    __table_args__ = (
        Index("ix_moderation_actions_community_id_id", "community_id", "id"),
        Index("ix_moderation_actions_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))  # mute|timeout|ban|unban|kick|delete
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # who it hits
    target_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # post|comment|message
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    moderator_id: Mapped[str] = mapped_column(String(64))
    moderator_role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when an appeal overturned it (the log keeps the entry and says so).
    overturned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Sanction(Base):
    """A standing restriction: `ban` (no membership, no rejoin) or `mute` (mute and timeout)."""

    __tablename__ = "sanctions"

    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # ban | mute
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: no end
    action_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Report(Base):
    """A member flags a post, comment, message or user to the community's moderators."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_community_id_status", "community_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    reporter_id: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(16))  # post|comment|message|user
    target_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Appeal(Base):
    """The sanctioned user's one appeal against one action, and the admins' answer."""

    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_community_id_status", "community_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action_id: Mapped[str] = mapped_column(
        ForeignKey("moderation_actions.id", ondelete="CASCADE"), unique=True
    )
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|upheld|overturned
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
