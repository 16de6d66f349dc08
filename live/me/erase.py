"""Erasing an account (DELETE /v1/me): what goes, what is anonymized, and what refuses.

- An owner must hand over or delete their communities first (409 `conflict` naming them):
  a community without an owner would have nobody to run it. A host ends their live first (409).
- Memberships, group memberships, likes, join requests, invites they created, reports they
  filed, appeals and usage time are deleted (counters follow).
- Posts, comments and anything else they authored are removed from view and their text blanked
  (chat messages with their deletion reasons, the titles of the lives they hosted); the rows stay,
  credited to a tombstone user, so threads and counts of others stay whole.
- References to them acting on others (who invited, who decided, which moderator) and the
  moderation log entries about them now name the tombstone.
- A ban or mute in force stays with the id: erasing an account and signing in again is not a way
  around a sanction.
Every table is covered, including tables of other domains, by the rules of `live.me.tables`.
On SQLite the erased text is also gone from the file and its write-ahead log (`secure_delete`,
then a truncating checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import case, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.models import Announcement, Comment, Community, Membership, Post, PostLike
from live.errors import ApiError, ErrorCode, not_found
from live.me.tables import ACTOR_COLUMN_NAMES, AUTHOR_COLUMN_NAMES, OWNED_TEXT_COLUMNS, tables_naming_users
from live.moderation.models import Appeal, ModerationAction, Report
from live.storage.all_models import metadata
from live.storage.base import utcnow
from live.storage.db import Database
from live.storage.models import User

log = logging.getLogger("live.me")

TOMBSTONE_ID = "~deleted"
TOMBSTONE_NAME = "Deleted user"

# Rows that only mean something for the user themself: deleted outright.
_DELETED = ("memberships", "group_members", "post_likes", "join_requests", "invites", "reports", "appeals",
            "push_subscriptions")
# Tables handled by hand below (sanctions are kept on purpose).
_HANDLED = frozenset({*_DELETED, "posts", "comments", "announcements", "moderation_actions", "sanctions"})


async def erase(session: AsyncSession, user_id: str) -> None:
    """Erase `user_id`'s account in the caller's transaction (what goes and what stays: above).

    On SQLite the transaction runs with `secure_delete`, so the pages it changes no longer hold
    the old text anywhere (SQLite otherwise leaves freed bytes in place); `scrub_disk`, after
    the commit, then moves those pages out of the write-ahead log and empties it.
    """
    if session.bind is None or session.bind.dialect.name != "sqlite":
        await _erase(session, user_id)
        return
    # The connection goes back to the pool afterwards: leave it as the build configured it.
    was = int((await session.execute(text("PRAGMA secure_delete"))).scalar_one())
    await session.execute(text("PRAGMA secure_delete=ON"))
    try:
        await _erase(session, user_id)
    finally:
        with contextlib.suppress(Exception):  # after a failed statement: the pool resets it
            await session.execute(text(f"PRAGMA secure_delete={was}"))


async def scrub_disk(db: Database, attempts: int = 3) -> bool:
    """After an erasure on SQLite: checkpoint the write-ahead log into the database file and
    truncate it, so the erased text is gone from disk rather than waiting in old WAL frames for
    the next checkpoint. Whether it completed (readers in the middle of a long read keep their
    frames; the next erasure or SQLite's own checkpoints catch up). PostgreSQL: nothing to do
    here (dead row versions go with VACUUM; see docs/security.md)."""
    if db.dialect != "sqlite":
        return True
    for attempt in range(attempts):
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection  # aiosqlite's connection (None only once invalidated)
            assert driver is not None
            # Outside any transaction: a checkpoint cannot run inside one.
            cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _log_frames, _done = await cursor.fetchone()
        if not busy:
            return True
        await asyncio.sleep(0.1 * (attempt + 1))
    log.warning("erasure: the write-ahead log could not be truncated (readers kept it busy)")
    return False


async def _erase(session: AsyncSession, user_id: str) -> None:
    if user_id == TOMBSTONE_ID:
        raise ApiError(ErrorCode.CONFLICT, "this account stands in for erased accounts and cannot be erased")
    if await session.get(User, user_id) is None:
        raise not_found("user")
    owned = (
        await session.execute(
            select(Community.name).where(Community.owner_id == user_id, Community.deleted_at.is_(None))
        )
    ).scalars().all()
    if owned:
        raise ApiError(
            ErrorCode.CONFLICT,
            "you own " + ", ".join(repr(n) for n in owned)
            + ": transfer ownership or delete these communities before erasing your account",
        )
    lives = metadata.tables.get("lives")
    if lives is not None and {"host_id", "status"} <= set(lives.c.keys()):
        hosting = await session.execute(
            select(lives.c.id).where(lives.c.host_id == user_id, lives.c.status == "live").limit(1)
        )
        if hosting.first() is not None:
            raise ApiError(ErrorCode.CONFLICT, "you are hosting a live: end it before erasing your account")
    await _ensure_tombstone(session)
    now = utcnow()

    # Counters first, while the rows that feed them still exist.
    joined = select(Membership.community_id).where(Membership.user_id == user_id)
    await session.execute(
        update(Community).where(Community.id.in_(joined)).values(member_count=Community.member_count - 1)
    )
    liked = select(PostLike.post_id).where(PostLike.user_id == user_id)
    await session.execute(update(Post).where(Post.id.in_(liked)).values(like_count=Post.like_count - 1))
    live_comments = (
        await session.execute(
            select(Comment.post_id, func.count())
            .where(Comment.author_id == user_id, Comment.deleted_at.is_(None))
            .group_by(Comment.post_id)
        )
    ).all()
    for post_id, n in live_comments:
        await session.execute(
            update(Post)
            .where(Post.id == post_id)
            .values(comment_count=case((Post.comment_count > n, Post.comment_count - n), else_=0))
        )

    await session.execute(delete(Appeal).where(Appeal.user_id == user_id))
    await session.execute(delete(Report).where(Report.reporter_id == user_id))
    await session.execute(
        update(Report)
        .where(Report.target_type == "user", Report.target_id == user_id)
        .values(target_id=TOMBSTONE_ID)
    )
    await session.execute(
        update(ModerationAction).where(ModerationAction.user_id == user_id).values(user_id=TOMBSTONE_ID)
    )
    await session.execute(
        update(ModerationAction).where(ModerationAction.moderator_id == user_id).values(moderator_id=TOMBSTONE_ID)
    )
    for stmt in (
        update(Post).where(Post.author_id == user_id, Post.deleted_at.is_(None)).values(deleted_at=now),
        update(Post).where(Post.author_id == user_id).values(text="", author_id=TOMBSTONE_ID),
        update(Comment).where(Comment.author_id == user_id, Comment.deleted_at.is_(None)).values(deleted_at=now),
        update(Comment).where(Comment.author_id == user_id).values(text="", author_id=TOMBSTONE_ID),
        # Announcements speak for the community: they stay, credited to the tombstone.
        update(Announcement).where(Announcement.author_id == user_id).values(author_id=TOMBSTONE_ID),
    ):
        await session.execute(stmt)

    await _scrub_mentions(session, user_id)

    for table, columns in tables_naming_users(skip=frozenset({"sanctions"})):
        for column in columns:
            values: dict[str, object] = {column.name: TOMBSTONE_ID}
            if column.name in ACTOR_COLUMN_NAMES and not column.primary_key:
                pass  # someone else's row that names them as the one who acted: keep the row
            elif table.name in _DELETED or column.primary_key:
                await session.execute(delete(table).where(column == user_id))
                continue
            elif table.name in _HANDLED:
                continue
            elif column.name in AUTHOR_COLUMN_NAMES:
                if "text" in table.c:
                    values["text"] = ""
                shown_name = column.name.removesuffix("_id") + "_name"  # e.g. user_name beside user_id
                if shown_name in table.c:
                    values[shown_name] = TOMBSTONE_NAME
                if "deleted_at" in table.c:
                    await session.execute(
                        update(table).where(column == user_id, table.c.deleted_at.is_(None)).values(deleted_at=now)
                    )
            if column.name not in ACTOR_COLUMN_NAMES:
                for name in OWNED_TEXT_COLUMNS.get(table.name, ()):
                    values[name] = None if table.c[name].nullable else ""
            try:
                async with session.begin_nested():
                    await session.execute(update(table).where(column == user_id).values(**values))
            except IntegrityError:
                # Reassigning would collide with a unique key: the rows go instead.
                await session.execute(delete(table).where(column == user_id))
    await session.execute(delete(User).where(User.id == user_id))


async def _scrub_mentions(session: AsyncSession, user_id: str) -> None:
    """Other people's notifications about what the user did ("X is live: <title>") lose the
    name and the words; deliveries not yet made that carry them (pushes, webhooks, a fan-out
    still expanding) are dropped rather than sent with the erased text."""
    notifications = metadata.tables.get("notifications")
    if notifications is not None and "actor_id" in notifications.c:
        await session.execute(
            update(notifications).where(notifications.c.actor_id == user_id).values(
                actor_id=TOMBSTONE_ID, actor_name=TOMBSTONE_NAME, title=TOMBSTONE_NAME, body="")
        )
    outbox = metadata.tables.get("outbox")
    if outbox is not None and "payload" in outbox.c:
        await session.execute(delete(outbox).where(outbox.c.payload.contains(f'"{user_id}"')))


async def _ensure_tombstone(session: AsyncSession) -> None:
    if await session.get(User, TOMBSTONE_ID) is None:
        try:
            async with session.begin_nested():
                session.add(User(id=TOMBSTONE_ID, name=TOMBSTONE_NAME))
        except IntegrityError:
            pass  # created concurrently by another erasure
