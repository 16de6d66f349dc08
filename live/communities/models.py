"""Tables of the community domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from live.storage.base import Base, UTCDateTime, utcnow


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    join_policy: Mapped[str] = mapped_column(String(16))  # open | invite
    read_policy: Mapped[str] = mapped_column(String(16))  # public | members
    # Who may list the members: "members" (default) or "public" (whoever may read the community).
    member_list: Mapped[str] = mapped_column(String(16), default="members", server_default="members")
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)
    blocked_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules: Mapped[str] = mapped_column(Text, default="")
    # Name and description case-folded by Python (`search_text`): `q` matches the same way on
    # both databases (SQLite's lower() folds ASCII only).
    search: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def refresh_search(self) -> None:
        self.search = search_text(self.name, self.description)


def search_text(*parts: str) -> str:
    return "\n".join(part.casefold() for part in parts)


class CommunityTopic(Base):
    """One row per (community, topic): portable topic search on both databases."""

    __tablename__ = "community_topics"

    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class Membership(Base):
    __tablename__ = "memberships"

    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))  # owner | admin | moderator | member
    invites_left: Mapped[int] = mapped_column(Integer, default=0)
    invited_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invite(Base):
    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Whether creating it spent one of the creator's invitations (members yes, staff no).
    quota_spent: Mapped[bool] = mapped_column(default=False)
    used_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class JoinRequest(Base):
    __tablename__ = "join_requests"
    __table_args__ = (Index("ix_join_requests_community_status", "community_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|rejected
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    group_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: the whole community
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnnouncementTarget(Base):
    """One row per (announcement, group) it was sent to: "announcements for my groups" is a join.

    `Announcement.group_ids` keeps the list as sent (the API returns it); this table makes the
    visibility query portable (no JSON operators), and an announcement without rows is for everyone.
    """

    __tablename__ = "announcement_targets"

    announcement_id: Mapped[str] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_community_id_id", "community_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    share_count: Mapped[int] = mapped_column(Integer, default=0)
    shared_from: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PostLike(Base):
    __tablename__ = "post_likes"

    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_post_id_id", "post_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

