"""The table of usage time: which minutes of a day a user spent watching or hosting, per community.

One row per (user, UTC day, kind, community) holds a bitmap of the day's 1,440 minutes (180
bytes): a minute's bit is set when the user was in a live room (or fetched an HLS playlist)
during that minute. Setting a bit twice changes nothing, so any number of connections, nodes and
repeated flushes of the same minutes give the same total; merging is a bitwise OR. `seconds` is
the number of set bits times 60, kept beside the bitmap so per-day sums stay one GROUP BY.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow

MINUTES_PER_DAY = 1440
BITMAP_BYTES = MINUTES_PER_DAY // 8


class UsageMinutes(Base):
    __tablename__ = "usage_minutes"
    __table_args__ = (Index("ix_usage_minutes_community_id_day", "community_id", "day"),)

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # watching | hosting
    community_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" for none
    minutes: Mapped[bytes] = mapped_column(LargeBinary(BITMAP_BYTES))
    seconds: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
