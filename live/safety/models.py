"""Tables of platform safety: blocks, operators, account reports, suspensions and their appeals.

Column names matter to export and erasure (`live.me.tables` finds a user's rows by them):

- `blocks.blocked_id` is deliberately neither a foreign key to users nor named like a user
  reference: the person blocked must never find, in their own export, who blocked them. Erasing
  the blocker deletes their blocks (`blocker_id` is a foreign key and part of the primary key).
- `suspensions.account_id` likewise: erasing an account and signing in again with the same id is
  not a way around a suspension (as community bans stay with the id).
- `platform_actions.moderator_id` is the operator who acted (an actor column: tombstoned when
  the operator's account is erased, like a community moderator's).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow


class Block(Base):
    """`blocker_id` no longer sees what `blocked_id` writes; neither can invite the other."""

    __tablename__ = "blocks"

    blocker_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    blocked_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Operator(Base):
    """A platform operator granted with `live admin grant` (besides those in `LIVE_OPERATORS`)."""

    __tablename__ = "operators"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlatformAction(Base):
    """One thing an operator did to an account: `suspend` or `unsuspend` (the platform log)."""

    __tablename__ = "platform_actions"
    __table_args__ = (Index("ix_platform_actions_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # suspend | unsuspend
    user_id: Mapped[str] = mapped_column(String(64))  # the account it hits
    reason: Mapped[str] = mapped_column(Text)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    moderator_id: Mapped[str] = mapped_column(String(64))  # the operator
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    overturned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Suspension(Base):
    """The suspension in force on an account, if any (`until` None: until lifted).

    Like community sanctions, one whose `until` has passed simply no longer counts.
    """

    __tablename__ = "suspensions"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    action_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountReport(Base):
    """Anyone signed in reports an account to the platform's operators."""

    __tablename__ = "account_reports"
    __table_args__ = (Index("ix_account_reports_status_id", "status", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reporter_id: Mapped[str] = mapped_column(String(64), index=True)
    # Not named like a user column: the reported account's export does not list who reported it.
    target_type: Mapped[str] = mapped_column(String(16))  # user
    target_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlatformAppeal(Base):
    """The suspended user's one appeal against one suspension, and the operators' answer."""

    __tablename__ = "platform_appeals"
    __table_args__ = (Index("ix_platform_appeals_status_id", "status", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action_id: Mapped[str] = mapped_column(
        ForeignKey("platform_actions.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|upheld|overturned
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
