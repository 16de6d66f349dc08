"""The uploads table: one row per image a user uploaded, and the post it went into (if any).

`user_id` is the owner (export lists their uploads; erasure marks them deleted and the purge
removes the files). `post_id` is null until a post takes the image; an image goes into one post
only. `deleted_at` set means the image is gone for everyone: the purge
(`live.uploads.service.purge`) removes its files, then the row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (
        Index("ix_uploads_post_id", "post_id"),
        Index("ix_uploads_user_id_post_id", "user_id", "post_id"),
        Index("ix_uploads_deleted_at", "deleted_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    post_id: Mapped[str | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), nullable=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)  # order within the post
    content_type: Mapped[str] = mapped_column(String(32))  # image/jpeg | image/png | image/webp
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    thumb_content_type: Mapped[str] = mapped_column(String(32))
    thumb_width: Mapped[int] = mapped_column(Integer)
    thumb_height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
