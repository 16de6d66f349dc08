"""Request bodies and query strings of the community endpoints (validated by pydantic).

Bodies are strict (a number is not a string, a string is not a number); unknown fields are
ignored. Limits on free text that the contract gives its own error code (`message_too_long`) are
checked in the services, not here, so that oversized text is not reported as `invalid_request`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from live.communities.text import cleaner, line, lines
from live.http.schemas import Body, Query, not_blank, storable  # noqa: F401 - re-exported

JoinPolicy = Literal["open", "invite"]
ReadPolicy = Literal["public", "members"]
MemberListPolicy = Literal["public", "members"]
RoleName = Literal["owner", "admin", "moderator", "member"]
AssignableRole = Literal["admin", "moderator", "member"]


def _topic(value: str) -> str:
    """Hashtag-like: an optional leading '#', then 1-50 characters without spaces; stored folded."""
    bare = value[1:] if value.startswith("#") else value
    if not bare or len(bare) > 50 or any(ch.isspace() or ch == "#" for ch in bare):
        raise ValueError("a topic is 1-50 characters without spaces, optionally after '#'")
    return bare.casefold()


def _topics(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))  # de-duplicated, first occurrence order


Topic = Annotated[str, AfterValidator(_topic), BeforeValidator(cleaner(multiline=False, required=True))]
Topics = Annotated[list[Topic], Field(max_length=10), AfterValidator(_topics)]
Name = Annotated[str, *line(100)]
Description = Annotated[str, *lines(2000, required=False)]
BlockedWord = Annotated[str, *line(50)]
Rules = Annotated[str, *lines(10000, required=False)]
JoinMessage = Annotated[str, *lines(1000, required=False)]


class CommunityCreate(Body):
    name: Name
    description: Description = ""
    topics: Topics = []  # noqa: RUF012 - pydantic copies defaults
    join_policy: JoinPolicy
    read_policy: ReadPolicy = "public"


class CommunityPatch(Body):
    name: Name | None = None
    description: Description | None = None
    topics: Topics | None = None
    join_policy: JoinPolicy | None = None
    read_policy: ReadPolicy | None = None
    member_list: MemberListPolicy | None = None
    slow_mode_seconds: Annotated[int, Field(ge=0, le=86400)] | None = None
    blocked_words: Annotated[list[BlockedWord], Field(max_length=500)] | None = None
    rules: Rules | None = None


class Page(Query):
    """Query of a paginated list (`cursor` is what the previous page returned as `next_cursor`)."""

    cursor: str | None = Field(None, max_length=512)
    limit: int = Field(20, ge=1, le=100)


class Discover(Page):
    q: str | None = Field(None, max_length=100, description="words in the name or description")
    topic: str | None = Field(None, max_length=51, description="one topic, with or without '#'")


class MembersQuery(Page):
    role: RoleName | None = None


class RoleChange(Body):
    role: AssignableRole


class OwnershipTransfer(Body):
    user_id: Annotated[str, Field(min_length=1, max_length=64)]


class InviteCreate(Body):
    pass


class JoinRequestCreate(Body):
    message: JoinMessage = ""


class JoinRequestsQuery(Page):
    status: Literal["pending", "approved", "rejected"] = "pending"


class GroupCreate(Body):
    name: Name
    description: Description = ""


class GroupPatch(Body):
    name: Name | None = None
    description: Description | None = None
    archived: bool | None = None


class GroupsQuery(Query):
    archived: bool = False


GroupIds = Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(max_length=100)]


class AnnouncementCreate(Body):
    text: str
    group_ids: GroupIds = []  # noqa: RUF012 - pydantic copies defaults


class TextBody(Body):
    text: str


MediaId = Annotated[str, Field(min_length=1, max_length=32)]


class PostCreate(Body):
    """A post: text, images (`media_ids` from `POST /v1/uploads`, at most 4), or both."""

    text: str = ""
    media_ids: Annotated[list[MediaId], Field(max_length=4)] = []  # noqa: RUF012 - pydantic copies defaults


class ShareBody(Body):
    community_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    text: str = ""
