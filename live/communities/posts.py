"""Posts, likes, comments and shares.

Posts carry images (`media`, from `live.uploads`), and what someone the reader blocked wrote
(posts, comments, the original of a share) is left out of what they read (`live.safety.blocks`).

Counters (`like_count`, `comment_count`, `share_count`) change by atomic `x = x + 1` updates,
and a like is a row whose primary key is (post, user) inserted with ON CONFLICT DO NOTHING: fifty
simultaneous likes by one user leave one row and a count of one, with no lock held.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities import views
from live.communities.access import require_member, require_reader
from live.communities.guards import check_can_speak
from live.communities.models import Comment, Community, Post, PostLike
from live.communities.sql import insert_if_absent
from live.communities.text import COMMENT_MAX, POST_MAX, check_blocked, check_text
from live.errors import ApiError, ErrorCode, not_found
from live.http import cursors
from live.safety.blocks import blocked_ids_query
from live.safety.models import Block
from live.storage.base import iso, utcnow
from live.storage.ids import new_id
from live.storage.models import User
from live.uploads import service as uploads


async def _writer(session: AsyncSession, community_id: str, user_id: str) -> Community:
    """Readable (404), not banned or muted here (403), and a member (403 `not_member`)."""
    await require_reader(session, community_id, user_id)
    await check_can_speak(session, community_id, user_id)
    community, _ = await require_member(session, community_id, user_id)
    return community


async def _load_post(session: AsyncSession, post_id: str, user_id: str) -> Post:
    """A live post in a community the caller may read, by someone they did not block; or 404."""
    post = await session.get(Post, post_id)
    if post is None or post.deleted_at is not None:
        raise not_found("post")
    await require_reader(session, post.community_id, user_id)
    if post.author_id != user_id and await session.get(Block, (user_id, post.author_id)) is not None:
        raise not_found("post")
    return post


async def _author_name(session: AsyncSession, user_id: str) -> str:
    return (await session.execute(select(User.name).where(User.id == user_id))).scalar_one_or_none() or ""


async def _original(session: AsyncSession, post: Post, viewer_id: str) -> dict[str, Any] | None:
    """What a share points at, embedded (None once the original is deleted, or when the viewer
    blocked its author)."""
    if post.shared_from is None:
        return None
    row = (
        await session.execute(
            select(Post, User.name)
            .join(User, User.id == Post.author_id)
            .where(Post.id == post.shared_from, Post.deleted_at.is_(None),
                   Post.author_id.not_in(blocked_ids_query(viewer_id)))
        )
    ).first()
    if row is None:
        return None
    orig, name = row
    return {
        "id": orig.id,
        "community_id": orig.community_id,
        "author": {"id": orig.author_id, "name": name},
        "text": orig.text,
        "media": (await uploads.media_of(session, [orig.id])).get(orig.id, []),
        "created_at": iso(orig.created_at),
    }


async def _view(session: AsyncSession, post: Post, user_id: str) -> dict[str, Any]:
    liked = await session.get(PostLike, (post.id, user_id)) is not None
    media = (await uploads.media_of(session, [post.id])).get(post.id, [])
    return views.post(post, await _author_name(session, post.author_id), liked,
                      await _original(session, post, user_id), media)


async def create_post(
    session: AsyncSession, community_id: str, user_id: str, text: str, media_ids: list[str] | None = None
) -> dict[str, Any]:
    """A post with text, images (`media_ids`: the poster's unused uploads), or both."""
    if text or not media_ids:
        text = check_text(text, POST_MAX)
    community = await _writer(session, community_id, user_id)
    check_blocked(text, community.blocked_words)
    post = Post(
        id=new_id(), community_id=community_id, author_id=user_id, text=text,
        like_count=0, comment_count=0, share_count=0, created_at=utcnow(),
    )
    session.add(post)
    media: list[dict[str, Any]] = []
    if media_ids:
        await session.flush()  # the uploads reference the post
        media = await uploads.attach(session, post.id, user_id, media_ids)
    return views.post(post, await _author_name(session, user_id), False, None, media)


async def list_posts(
    session: AsyncSession, community_id: str, user_id: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Newest first, `{items, next_cursor}`; `liked_by_me` for the caller; without the posts of
    people the caller blocked."""
    await require_reader(session, community_id, user_id)
    mine = and_(PostLike.post_id == Post.id, PostLike.user_id == user_id)
    stmt = (
        select(Post, User.name, PostLike.user_id)
        .join(User, User.id == Post.author_id)
        .outerjoin(PostLike, mine)
        .where(Post.community_id == community_id, Post.deleted_at.is_(None),
               Post.author_id.not_in(blocked_ids_query(user_id)))
    )
    key = cursors.decode(cursor, str)
    if key is not None:
        stmt = stmt.where(Post.id < key[0])
    rows = (await session.execute(stmt.order_by(Post.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    media = await uploads.media_of(session, [p.id for p, _, _ in page])
    items = [
        views.post(p, name, liker is not None, await _original(session, p, user_id), media.get(p.id))
        for p, name, liker in page
    ]
    nxt = cursors.encode(page[-1][0].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": nxt}


async def get_post(session: AsyncSession, post_id: str, user_id: str) -> dict[str, Any]:
    return await _view(session, await _load_post(session, post_id, user_id), user_id)


async def like(session: AsyncSession, post_id: str, user_id: str, *, liked: bool) -> dict[str, Any]:
    """Like or unlike; idempotent both ways (the count moves only when the row does)."""
    post = await _load_post(session, post_id, user_id)
    await _writer(session, post.community_id, user_id)
    if liked:
        changed = await insert_if_absent(
            session, PostLike, {"post_id": post_id, "user_id": user_id, "created_at": utcnow()}
        )
        delta = 1
    else:
        result = await session.execute(
            delete(PostLike).where(PostLike.post_id == post_id, PostLike.user_id == user_id).returning(PostLike.user_id)
        )
        changed = result.first() is not None
        delta = -1
    if changed:
        await session.execute(update(Post).where(Post.id == post_id).values(like_count=Post.like_count + delta))
        await session.refresh(post)
    return await _view(session, post, user_id)


async def delete_post(session: AsyncSession, post_id: str, user_id: str) -> None:
    """The author deletes their own post (moderators remove others' through moderation)."""
    post = await _load_post(session, post_id, user_id)
    if post.author_id != user_id:
        raise ApiError(ErrorCode.FORBIDDEN, "only the author can delete a post")
    await mark_post_deleted(session, post)
    await uploads.discard_for_post(session, post.id)  # the author's images go with it


async def mark_post_deleted(session: AsyncSession, post: Post) -> None:
    """Soft-delete a post (also used by moderation); a share gives its original's count back."""
    post.deleted_at = utcnow()
    if post.shared_from is not None:
        await session.execute(
            update(Post)
            .where(Post.id == post.shared_from, Post.share_count > 0)
            .values(share_count=Post.share_count - 1)
        )


async def comment(session: AsyncSession, post_id: str, user_id: str, text: str) -> dict[str, Any]:
    text = check_text(text, COMMENT_MAX)
    post = await _load_post(session, post_id, user_id)
    community = await _writer(session, post.community_id, user_id)
    check_blocked(text, community.blocked_words)
    item = Comment(id=new_id(), post_id=post_id, author_id=user_id, text=text, created_at=utcnow())
    session.add(item)
    await session.execute(update(Post).where(Post.id == post_id).values(comment_count=Post.comment_count + 1))
    return views.comment(item, await _author_name(session, user_id))


async def list_comments(
    session: AsyncSession, post_id: str, user_id: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Comments oldest first (a conversation reads top to bottom), without those of people the
    caller blocked."""
    await _load_post(session, post_id, user_id)
    stmt = (
        select(Comment, User.name)
        .join(User, User.id == Comment.author_id)
        .where(Comment.post_id == post_id, Comment.deleted_at.is_(None),
               Comment.author_id.not_in(blocked_ids_query(user_id)))
    )
    key = cursors.decode(cursor, str)
    if key is not None:
        stmt = stmt.where(Comment.id > key[0])
    rows = (await session.execute(stmt.order_by(Comment.id).limit(limit + 1))).all()
    page = rows[:limit]
    nxt = cursors.encode(page[-1][0].id) if len(rows) > limit else None
    return {"items": [views.comment(c, name) for c, name in page], "next_cursor": nxt}


async def delete_comment(session: AsyncSession, comment_id: str, user_id: str) -> None:
    item = await session.get(Comment, comment_id)
    if item is None or item.deleted_at is not None:
        raise not_found("comment")
    post = await _load_post(session, item.post_id, user_id)
    if item.author_id != user_id:
        raise ApiError(ErrorCode.FORBIDDEN, "only the author can delete a comment")
    await mark_comment_deleted(session, item, post)


async def mark_comment_deleted(session: AsyncSession, item: Comment, post: Post) -> None:
    item.deleted_at = utcnow()
    await session.execute(
        update(Post).where(Post.id == post.id, Post.comment_count > 0).values(comment_count=Post.comment_count - 1)
    )


async def share(
    session: AsyncSession, post_id: str, user_id: str, target_id: str | None, text: str
) -> dict[str, Any]:
    """Share a post into a community where the sharer is a member (default: the post's own).

    A share of a share points at the first original. A post from a members-only community is
    only shared inside it, so sharing never shows it to people who could not read it.
    """
    post = await _load_post(session, post_id, user_id)
    root = post
    if post.shared_from is not None:
        first = await session.get(Post, post.shared_from)
        if first is None or first.deleted_at is not None:
            raise not_found("post")
        root = first
    target = target_id or post.community_id
    source = await session.get(Community, root.community_id)
    if source is not None and source.read_policy != "public" and target != root.community_id:
        raise ApiError(ErrorCode.FORBIDDEN, "posts of a members-only community stay in it")
    if text:
        text = check_text(text, POST_MAX)
    community = await _writer(session, target, user_id)
    if text:
        check_blocked(text, community.blocked_words)
    item = Post(
        id=new_id(), community_id=target, author_id=user_id, text=text, like_count=0,
        comment_count=0, share_count=0, shared_from=root.id, created_at=utcnow(),
    )
    session.add(item)
    await session.execute(update(Post).where(Post.id == root.id).values(share_count=Post.share_count + 1))
    return views.post(item, await _author_name(session, user_id), False, await _original(session, item, user_id))
