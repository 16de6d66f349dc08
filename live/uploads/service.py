"""Uploads: storing a checked image, putting it in a post, deciding who may see it, removing it.

- An upload belongs to its user. Until a post takes it, only they can see it; a post takes at
  most `MAX_PER_POST` of its author's own unused uploads (`attach`, one conditional UPDATE each,
  so two posts racing for one image cannot both get it).
- Once in a post, an image is read with the post's rights: its community's `read_policy` (a
  members-only community's images need a member's token) while the post exists. Its owner can
  always fetch it (an export names every upload).
- Gone for good: an author deleting their post, or erasing their account, marks its images
  deleted (served as 404 at once) and the purge removes the files and the rows. A post removed by
  a moderator keeps its images for `MODERATED_KEEP` (an appeal may restore the post) while they
  are served to nobody; uploads no post took within `UNUSED_KEEP` are purged too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.models import Community, Membership, Post
from live.errors import ApiError, ErrorCode, invalid, not_found
from live.storage.base import utcnow
from live.storage.db import Database
from live.storage.ids import new_id
from live.storage.outage import OutageLog
from live.uploads import images
from live.uploads.models import Upload
from live.uploads.storage import MediaStore

log = logging.getLogger("live.uploads")

MAX_PER_POST = 4
MAX_UNUSED = 20  # uploads one user may hold that no post took yet
UNUSED_KEEP = dt.timedelta(hours=24)
MODERATED_KEEP = dt.timedelta(days=30)
VARIANTS = ("image", "thumbnail")
# Images decoded at once per node: each can take a few hundred MB while it is decoded.
DECODING_AT_ONCE = 2
PURGE_SECONDS = 300.0  # between purge rounds, when nothing was deleted meanwhile


def key(upload_id: str, variant: str) -> str:
    return f"{upload_id}/{variant}"


def view(u: Upload) -> dict[str, Any]:
    """An image as posts and the upload endpoint carry it."""
    return {
        "id": u.id,
        "url": f"/v1/uploads/{u.id}",
        "width": u.width,
        "height": u.height,
        "thumbnail_url": f"/v1/uploads/{u.id}/thumbnail",
        "content_type": u.content_type,
    }


class Uploads:
    """Images in posts on this node: the store, its share of decoding work, and the purge loop."""

    def __init__(self, db: Database, store: MediaStore, *, purge_seconds: float = PURGE_SECONDS) -> None:
        self.db = db
        self.store = store
        self.purge_seconds = purge_seconds
        self._decoding = asyncio.Semaphore(DECODING_AT_ONCE)
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None  # the purge loop
        self._outage = OutageLog(log, "purging uploads")

    def start(self) -> None:
        self.task = asyncio.create_task(self._purge_forever(), name="uploads-purge")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next purge tries again
                self._outage.failed(exc)
            else:
                self._outage.worked()
            await self.wait_for_purge(self.purge_seconds)

    async def on_deleted(self, payload: dict[str, Any]) -> None:
        """A post deleted by its author or an erased account: their images go at once."""
        self.purge_soon()

    async def create(self, user_id: str, data: bytes) -> dict[str, Any]:
        """Check, re-encode and store an image for `user_id`; nothing is stored when it is refused."""
        async with self.db.session() as session:
            await _check_unused_quota(session, user_id)
        async with self._decoding:
            processed = await asyncio.to_thread(images.process, data)
        upload = Upload(
            id=new_id(), user_id=user_id, post_id=None, position=0,
            content_type=processed.image.content_type, width=processed.image.width,
            height=processed.image.height, size_bytes=len(processed.image.data),
            thumb_content_type=processed.thumbnail.content_type, thumb_width=processed.thumbnail.width,
            thumb_height=processed.thumbnail.height, created_at=utcnow(),
        )
        await self.store.put(key(upload.id, "image"), processed.image.data)
        await self.store.put(key(upload.id, "thumbnail"), processed.thumbnail.data)
        try:
            async with self.db.session() as session:
                session.add(upload)
        except BaseException:
            await _remove_files(self.store, upload.id)
            raise
        return view(upload)

    async def purge(self) -> int:
        return await purge(self.db, self.store)

    def purge_soon(self) -> None:
        """Something was deleted: run the purge now rather than at its next round."""
        self._wake.set()

    async def wait_for_purge(self, seconds: float) -> None:
        """Until the next round is due or `purge_soon` is called."""
        try:
            async with asyncio.timeout(seconds):  # not wait_for: see live.notifications.outbox.Sender._loop
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()


async def _check_unused_quota(session: AsyncSession, user_id: str) -> None:
    unused = await session.execute(
        select(func.count()).select_from(Upload).where(
            Upload.user_id == user_id, Upload.post_id.is_(None), Upload.deleted_at.is_(None)
        )
    )
    if int(unused.scalar_one()) >= MAX_UNUSED:
        raise ApiError(ErrorCode.CONFLICT, f"you have {MAX_UNUSED} images no post uses yet: post or delete some first")


async def attach(session: AsyncSession, post_id: str, user_id: str, media_ids: list[str]) -> list[dict[str, Any]]:
    """Put the poster's unused uploads `media_ids` into the post, in that order (422 otherwise)."""
    if len(media_ids) > MAX_PER_POST:
        raise invalid({"media_ids": f"at most {MAX_PER_POST} images per post"})
    if len(set(media_ids)) != len(media_ids):
        raise invalid({"media_ids": "an image appears twice"})
    out = []
    for position, upload_id in enumerate(media_ids):
        taken = await session.execute(
            update(Upload)
            .where(Upload.id == upload_id, Upload.user_id == user_id, Upload.post_id.is_(None),
                   Upload.deleted_at.is_(None))
            .values(post_id=post_id, position=position)
            .returning(Upload.id)
        )
        if taken.first() is None:
            raise invalid({f"media_ids.{position}": "not one of your unused uploads"},
                          "every image of a post must be one of your own uploads, not yet in a post")
    rows = (await session.execute(select(Upload).where(Upload.id.in_(media_ids)))).scalars()
    found = {u.id: u for u in rows}
    for upload_id in media_ids:
        out.append(view(found[upload_id]))
    return out


async def media_of(session: AsyncSession, post_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """{post id: its images in order} for the posts that have any."""
    if not post_ids:
        return {}
    rows = (
        await session.execute(
            select(Upload)
            .where(Upload.post_id.in_(post_ids), Upload.deleted_at.is_(None))
            .order_by(Upload.post_id, Upload.position)
        )
    ).scalars()
    found: dict[str, list[dict[str, Any]]] = {}
    for u in rows:
        assert u.post_id is not None
        found.setdefault(u.post_id, []).append(view(u))
    return found


async def discard_for_post(session: AsyncSession, post_id: str) -> None:
    """The post's author deleted it: its images are gone (the purge removes the files)."""
    await session.execute(
        update(Upload).where(Upload.post_id == post_id, Upload.deleted_at.is_(None)).values(deleted_at=utcnow())
    )


async def discard(session: AsyncSession, upload_id: str, user_id: str) -> None:
    """The owner deletes an upload that no post took (one in a post goes with the post)."""
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.deleted_at is not None or upload.user_id != user_id:
        raise not_found("upload")
    if upload.post_id is not None:
        raise ApiError(ErrorCode.CONFLICT, "this image is in a post: delete the post instead")
    upload.deleted_at = utcnow()


async def readable(session: AsyncSession, upload_id: str, user_id: str | None) -> tuple[Upload, bool]:
    """The upload if `user_id` (None: no token) may see it, and whether anyone may (a live post
    of a public community); else 404, for whatever reason (nothing is revealed)."""
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.deleted_at is not None:
        raise not_found("image")
    row = None
    if upload.post_id is not None:
        row = (
            await session.execute(
                select(Post.deleted_at, Post.community_id, Community.read_policy, Community.deleted_at)
                .join(Community, Community.id == Post.community_id)
                .where(Post.id == upload.post_id)
            )
        ).first()
    in_live_post = row is not None and row[0] is None and row[3] is None
    public = in_live_post and row is not None and row[2] == "public"
    if user_id is not None and upload.user_id == user_id:
        return upload, public
    if not in_live_post or row is None:
        raise not_found("image")
    if not public and (user_id is None or await session.get(Membership, (row[1], user_id)) is None):
        raise not_found("image")
    return upload, public


async def purge(db: Database, store: MediaStore) -> int:
    """Remove what is gone: files first, then rows. Returns how many uploads were removed."""
    now = utcnow()
    async with db.session() as session:
        await session.execute(
            update(Upload)
            .where(Upload.post_id.is_(None), Upload.deleted_at.is_(None), Upload.created_at < now - UNUSED_KEEP)
            .values(deleted_at=now)
        )
        moderated = select(Post.id).where(Post.deleted_at.is_not(None), Post.deleted_at < now - MODERATED_KEEP)
        await session.execute(
            update(Upload)
            .where(Upload.deleted_at.is_(None), Upload.post_id.in_(moderated))
            .values(deleted_at=now)
        )
        gone = list((await session.execute(
            select(Upload.id).where(Upload.deleted_at.is_not(None)).limit(1000)
        )).scalars())
    removed: list[str] = []
    for upload_id in gone:
        try:
            await _remove_files(store, upload_id)
            removed.append(upload_id)
        except Exception as exc:  # noqa: BLE001 - the store failed: the row stays, next purge retries
            log.warning("removing the files of upload %s failed: %s", upload_id, exc)
    if removed:
        async with db.session() as session:
            await session.execute(delete(Upload).where(and_(Upload.id.in_(removed), Upload.deleted_at.is_not(None))))
    return len(removed)


async def _remove_files(store: MediaStore, upload_id: str) -> None:
    for variant in VARIANTS:
        await store.delete(key(upload_id, variant))
