"""The response shapes of the community endpoints, for /openapi.json (and checked by the tests).

`views.py` builds the objects; these models describe them. `tests/test_communities_wire.py`
validates real responses against these models with unknown fields forbidden, so the published
document cannot drift from what the server sends.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from live.communities.schemas import JoinPolicy, MemberListPolicy, ReadPolicy, RoleName


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserRef(Out):
    id: str
    name: str | None


class CommunityOut(Out):
    id: str
    name: str
    description: str
    topics: list[str]
    join_policy: JoinPolicy
    read_policy: ReadPolicy
    member_list: MemberListPolicy
    owner_id: str
    member_count: int
    slow_mode_seconds: int
    blocked_words: list[str]
    rules: str
    created_at: str
    my_role: RoleName | None


class CommunityPage(Out):
    items: list[CommunityOut]
    next_cursor: str | None


class MembershipOut(Out):
    community_id: str
    user_id: str
    user: UserRef
    role: RoleName
    invites_left: int | None
    invited_by: str | None
    joined_at: str


class MembershipPage(Out):
    items: list[MembershipOut]
    next_cursor: str | None


class InviteOut(Out):
    code: str
    community_id: str
    created_by: str
    created_at: str
    expires_at: str
    used_by: str | None
    used_at: str | None
    revoked_at: str | None
    invites_left: int | None


class InvitePage(Out):
    items: list[InviteOut]
    next_cursor: str | None


class JoinRequestOut(Out):
    id: str
    community_id: str
    user_id: str
    message: str
    status: str
    created_at: str
    decided_by: str | None
    decided_at: str | None


class JoinRequestPage(Out):
    items: list[JoinRequestOut]
    next_cursor: str | None


class GroupOut(Out):
    id: str
    community_id: str
    name: str
    description: str
    room: str
    member_count: int
    joined: bool
    archived: bool
    archived_at: str | None
    created_by: str
    created_at: str


class GroupList(Out):
    items: list[GroupOut]


class AnnouncementOut(Out):
    id: str
    community_id: str
    author_id: str
    text: str
    group_ids: list[str]
    created_at: str


class AnnouncementPage(Out):
    items: list[AnnouncementOut]
    next_cursor: str | None


class MediaOut(Out):
    id: str
    url: str
    width: int
    height: int
    thumbnail_url: str
    content_type: str


class OriginalPost(Out):
    id: str
    community_id: str
    author: UserRef
    text: str
    media: list[MediaOut]
    created_at: str


class PostOut(Out):
    id: str
    community_id: str
    author: UserRef
    text: str
    like_count: int
    comment_count: int
    share_count: int
    shared_from: str | None
    original: OriginalPost | None
    media: list[MediaOut]
    created_at: str
    liked_by_me: bool


class PostPage(Out):
    items: list[PostOut]
    next_cursor: str | None


class CommentOut(Out):
    id: str
    post_id: str
    author: UserRef
    text: str
    created_at: str


class CommentPage(Out):
    items: list[CommentOut]
    next_cursor: str | None
