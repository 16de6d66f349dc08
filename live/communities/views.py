"""How community objects look on the wire (one function per object, used by every endpoint)."""

from __future__ import annotations

from typing import Any

from live.communities.models import Announcement, Comment, Community, Group, Invite, JoinRequest, Membership, Post
from live.room_id import RoomId
from live.storage.base import iso


def community(c: Community, my_role: str | None) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "topics": list(c.topics),
        "join_policy": c.join_policy,
        "read_policy": c.read_policy,
        "member_list": c.member_list or "members",
        "owner_id": c.owner_id,
        "member_count": c.member_count,
        "slow_mode_seconds": c.slow_mode_seconds,
        "blocked_words": list(c.blocked_words),
        "rules": c.rules,
        "created_at": iso(c.created_at),
        "my_role": my_role,
    }


def membership(m: Membership, name: str | None = None) -> dict[str, Any]:
    return {
        "community_id": m.community_id,
        "user_id": m.user_id,
        "user": {"id": m.user_id, "name": name},
        "role": m.role,
        "invites_left": m.invites_left if m.role == "member" else None,
        "invited_by": m.invited_by,
        "joined_at": iso(m.joined_at),
    }


def invite(i: Invite, invites_left: int | None) -> dict[str, Any]:
    return {
        "code": i.code,
        "community_id": i.community_id,
        "created_by": i.created_by,
        "created_at": iso(i.created_at),
        "expires_at": iso(i.expires_at),
        "used_by": i.used_by,
        "used_at": iso(i.used_at),
        "revoked_at": iso(i.revoked_at),
        "invites_left": invites_left,
    }


def join_request(r: JoinRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "community_id": r.community_id,
        "user_id": r.user_id,
        "message": r.message,
        "status": r.status,
        "created_at": iso(r.created_at),
        "decided_by": r.decided_by,
        "decided_at": iso(r.decided_at),
    }


def group(g: Group, member_count: int, joined: bool) -> dict[str, Any]:
    return {
        "id": g.id,
        "community_id": g.community_id,
        "name": g.name,
        "description": g.description,
        "room": RoomId.group(g.id),
        "member_count": member_count,
        "joined": joined,
        "archived": g.archived_at is not None,
        "archived_at": iso(g.archived_at),
        "created_by": g.created_by,
        "created_at": iso(g.created_at),
    }


def announcement(a: Announcement) -> dict[str, Any]:
    return {
        "id": a.id,
        "community_id": a.community_id,
        "author_id": a.author_id,
        "text": a.text,
        "group_ids": list(a.group_ids),
        "created_at": iso(a.created_at),
    }


def post(
    p: Post, author_name: str, liked_by_me: bool, original: dict[str, Any] | None = None,
    media: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": p.id,
        "community_id": p.community_id,
        "author": {"id": p.author_id, "name": author_name},
        "text": p.text,
        "like_count": p.like_count,
        "comment_count": p.comment_count,
        "share_count": p.share_count,
        "shared_from": p.shared_from,
        "original": original,
        "media": media or [],
        "created_at": iso(p.created_at),
        "liked_by_me": liked_by_me,
    }


def comment(c: Comment, author_name: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "post_id": c.post_id,
        "author": {"id": c.author_id, "name": author_name},
        "text": c.text,
        "created_at": iso(c.created_at),
    }
