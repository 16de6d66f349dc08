"""HTTP endpoints: groups, announcements, posts, likes, comments and shares."""

from __future__ import annotations

from typing import Any

from live.communities import groups, posts, wire
from live.communities.params import path_id
from live.communities.schemas import (
    AnnouncementCreate,
    GroupCreate,
    GroupPatch,
    GroupsQuery,
    Page,
    PostCreate,
    ShareBody,
    TextBody,
)
from live.errors import ErrorCode as E
from live.events import revoke_access
from live.http.api import Api, Ctx
from live.services import Services

api: Api[Services] = Api("posts and groups")

READ = [E.NOT_FOUND]
WRITE = [E.NOT_FOUND, E.NOT_MEMBER, E.FORBIDDEN]
SPEAK = [E.NOT_FOUND, E.NOT_MEMBER, E.BANNED, E.MUTED, E.MESSAGE_TOO_LONG, E.BLOCKED_WORD]
POST = [*SPEAK, E.INVALID_REQUEST]


# -- groups -------------------------------------------------------------------------------------


@api.post("/v1/communities/{cid}/groups", response=wire.GroupOut, body=GroupCreate, status=201, errors=WRITE)
async def create_group(ctx: Ctx[Services, GroupCreate, None]) -> dict[str, Any]:
    """Create a group in a community (admins); its chat room is `group:{gid}`."""
    async with ctx.services.db.session() as session:
        return await groups.create_group(session, path_id(ctx, "cid"), ctx.user.id, ctx.body)


@api.get("/v1/communities/{cid}/groups", response=wire.GroupList, query=GroupsQuery, errors=READ)
async def list_groups(ctx: Ctx[Services, None, GroupsQuery]) -> dict[str, Any]:
    """The community's groups, with member counts and whether the caller `joined`."""
    async with ctx.services.db.session() as session:
        return await groups.list_groups(session, path_id(ctx, "cid"), ctx.user.id, ctx.query.archived)


@api.get("/v1/groups/{gid}", response=wire.GroupOut, errors=READ)
async def get_group(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """One group."""
    async with ctx.services.db.session() as session:
        return await groups.get_group(session, path_id(ctx, "gid"), ctx.user.id)


@api.patch("/v1/groups/{gid}", response=wire.GroupOut, body=GroupPatch, errors=WRITE)
async def patch_group(ctx: Ctx[Services, GroupPatch, None]) -> dict[str, Any]:
    """Rename, describe, archive (`archived: true`) or unarchive a group (admins).

    Archiving closes the group's room: everyone in it is taken out (`room.closed`, `archived`).
    """
    async with ctx.services.db.session() as session:
        result = await groups.patch_group(session, path_id(ctx, "gid"), ctx.user.id, ctx.body)
    if ctx.body.archived:
        await revoke_access(ctx.services.events, community_id=result["community_id"], rooms=[result["room"]],
                            reason="archived")
    return result


@api.post("/v1/groups/{gid}/join", response=wire.GroupOut, errors=[*WRITE, E.CONFLICT])
async def join_group(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Join a group (members of its community; not archived groups)."""
    async with ctx.services.db.session() as session:
        return await groups.join_group(session, path_id(ctx, "gid"), ctx.user.id)


@api.post("/v1/groups/{gid}/leave", response=wire.GroupOut, errors=[*WRITE, E.CONFLICT])
async def leave_group(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Leave a group (and its room, on every connection, at once)."""
    async with ctx.services.db.session() as session:
        result = await groups.leave_group(session, path_id(ctx, "gid"), ctx.user.id)
    await revoke_access(ctx.services.events, community_id=result["community_id"], user_id=ctx.user.id,
                        rooms=[result["room"]], reason="left")
    return result


@api.delete("/v1/groups/{gid}/members/{uid}", response=wire.GroupOut, errors=[*WRITE, E.CONFLICT])
async def remove_from_group(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Take someone out of a group (admins and up, on people they outrank); out of its room at once."""
    uid = path_id(ctx, "uid")
    async with ctx.services.db.session() as session:
        result = await groups.remove_from_group(session, path_id(ctx, "gid"), ctx.user.id, uid)
    await revoke_access(ctx.services.events, community_id=result["community_id"], user_id=uid,
                        rooms=[result["room"]], reason="left" if uid == ctx.user.id else "removed")
    return result


# -- announcements ------------------------------------------------------------------------------


@api.post("/v1/communities/{cid}/announcements", response=wire.AnnouncementOut, body=AnnouncementCreate, status=201,
          errors=[*WRITE, E.MESSAGE_TOO_LONG])
async def create_announcement(ctx: Ctx[Services, AnnouncementCreate, None]) -> dict[str, Any]:
    """Announce to the whole community, or to the named groups (admins); pushed to connected members."""
    async with ctx.services.db.session() as session:
        item = await groups.announce(session, path_id(ctx, "cid"), ctx.user.id, ctx.body)
    await ctx.services.events.emit("announcement", dict(item))
    return item


@api.get("/v1/communities/{cid}/announcements", response=wire.AnnouncementPage, query=Page, errors=READ)
async def list_announcements(ctx: Ctx[Services, None, Page]) -> dict[str, Any]:
    """Announcements newest first: for everyone, and for the caller's groups (admins see all)."""
    async with ctx.services.db.session() as session:
        return await groups.list_announcements(session, path_id(ctx, "cid"), ctx.user.id, ctx.query)


# -- posts --------------------------------------------------------------------------------------


@api.post("/v1/communities/{cid}/posts", response=wire.PostOut, body=PostCreate, status=201, errors=POST)
async def create_post(ctx: Ctx[Services, PostCreate, None]) -> dict[str, Any]:
    """Post in a community (members): text up to 5,000 characters, and up to 4 images
    (`media_ids`, your unused uploads from `POST /v1/uploads`); text may be empty with images."""
    async with ctx.services.db.session() as session:
        return await posts.create_post(
            session, path_id(ctx, "cid"), ctx.user.id, ctx.body.text, ctx.body.media_ids
        )


@api.get("/v1/communities/{cid}/posts", response=wire.PostPage, query=Page, errors=READ)
async def list_posts(ctx: Ctx[Services, None, Page]) -> dict[str, Any]:
    """Posts newest first, `{items, next_cursor}`, with `liked_by_me`."""
    async with ctx.services.db.session() as session:
        return await posts.list_posts(session, path_id(ctx, "cid"), ctx.user.id, ctx.query.cursor, ctx.query.limit)


@api.get("/v1/posts/{pid}", response=wire.PostOut, errors=READ)
async def get_post(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """One post."""
    async with ctx.services.db.session() as session:
        return await posts.get_post(session, path_id(ctx, "pid"), ctx.user.id)


@api.delete("/v1/posts/{pid}", status=204, errors=[E.NOT_FOUND, E.FORBIDDEN])
async def delete_post(ctx: Ctx[Services, None, None]) -> None:
    """Delete your own post (its images go with it)."""
    pid = path_id(ctx, "pid")
    async with ctx.services.db.session() as session:
        await posts.delete_post(session, pid, ctx.user.id)
    await ctx.services.events.emit("post.deleted", {"post_id": pid, "by": ctx.user.id})


@api.post("/v1/posts/{pid}/like", response=wire.PostOut, errors=SPEAK)
async def like_post(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Like a post (idempotent); returns the post."""
    async with ctx.services.db.session() as session:
        return await posts.like(session, path_id(ctx, "pid"), ctx.user.id, liked=True)


@api.delete("/v1/posts/{pid}/like", response=wire.PostOut, errors=SPEAK)
async def unlike_post(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """Take a like back (idempotent); returns the post."""
    async with ctx.services.db.session() as session:
        return await posts.like(session, path_id(ctx, "pid"), ctx.user.id, liked=False)


@api.post("/v1/posts/{pid}/comments", response=wire.CommentOut, body=TextBody, status=201, errors=SPEAK)
async def comment_post(ctx: Ctx[Services, TextBody, None]) -> dict[str, Any]:
    """Comment on a post (members; up to 2,000 characters)."""
    async with ctx.services.db.session() as session:
        return await posts.comment(session, path_id(ctx, "pid"), ctx.user.id, ctx.body.text)


@api.get("/v1/posts/{pid}/comments", response=wire.CommentPage, query=Page, errors=READ)
async def list_comments(ctx: Ctx[Services, None, Page]) -> dict[str, Any]:
    """Comments oldest first, `{items, next_cursor}`."""
    async with ctx.services.db.session() as session:
        return await posts.list_comments(session, path_id(ctx, "pid"), ctx.user.id, ctx.query.cursor, ctx.query.limit)


@api.delete("/v1/comments/{comment_id}", status=204, errors=[E.NOT_FOUND, E.FORBIDDEN])
async def delete_comment(ctx: Ctx[Services, None, None]) -> None:
    """Delete your own comment."""
    async with ctx.services.db.session() as session:
        await posts.delete_comment(session, path_id(ctx, "comment_id"), ctx.user.id)


@api.post("/v1/posts/{pid}/share", response=wire.PostOut, body=ShareBody, status=201, errors=[*SPEAK, E.FORBIDDEN])
async def share_post(ctx: Ctx[Services, ShareBody, None]) -> dict[str, Any]:
    """Share a post into a community where you are a member (default: its own); `text` is optional."""
    async with ctx.services.db.session() as session:
        return await posts.share(session, path_id(ctx, "pid"), ctx.user.id, ctx.body.community_id, ctx.body.text)
