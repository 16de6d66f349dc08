"""Tables of room chat: each room's epoch and last seq, and the stored messages."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow


class ChatRoom(Base):
    """A room's sequence: `last_seq` is the seq of its newest message (0 before the first).

    The row is also the room's lock: appends take it (FOR UPDATE) to allocate the next seq and
    publish while holding it, so the order on the bus is the order of seq.
    """

    __tablename__ = "chat_rooms"

    room: Mapped[str] = mapped_column(String(80), primary_key=True)
    # Random per room; a new one means the history clients hold no longer matches (reload).
    epoch: Mapped[str] = mapped_column(String(16))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("room", "user_id", "nonce", name="uq_chat_messages_room_user_nonce"),)

    room: Mapped[str] = mapped_column(
        ForeignKey("chat_rooms.room", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    user_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delete_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
