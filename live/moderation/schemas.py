"""Request bodies and query strings of the moderation and me endpoints (validated by pydantic).

Bodies are strict (a number is not a string); unknown fields are ignored. Text that no database
column can hold (NUL characters, lone surrogates) is a 422 naming the field, never a database
error; path ids we could never have issued are a 404 without a database trip.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from live.communities.text import line, lines
from live.errors import not_found
from live.http.api import Ctx
from live.http.schemas import Body, Query, not_blank, storable  # noqa: F401 - re-exported
from live.moderation import rules

_LONGEST_ID = 64  # every id we issue is shorter


def path_id(ctx: Ctx[Any, Any, Any], name: str, what: str = "object") -> str:
    """The path parameter `name`, or 404 when it cannot be one of ours (also keeps NUL out of SQL)."""
    value = ctx.params[name]
    if not value or len(value) > _LONGEST_ID or "\x00" in value:
        raise not_found(what)
    return value


# Required, non-blank, cleaned (control characters and bidi overrides removed) and trimmed.
Reason = Annotated[str, *lines(1000)]
LongText = Annotated[str, *lines(2000)]


class ModerationPage(Query):
    """A page of a list: `cursor` is the previous page's `next_cursor`."""

    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=100)


class ModerationTarget(Body):
    type: Literal["post", "comment", "message"]
    id: str = Field(min_length=1, max_length=64)


class ModerationActionBody(Body):
    action: str = Field(max_length=16, description=f"one of {', '.join(rules.ACTIONS)}")
    user_id: str | None = Field(None, min_length=1, max_length=64)
    target: ModerationTarget | None = None
    duration_seconds: int | None = Field(None, ge=1, le=rules.MAX_DURATION_SECONDS)
    reason: Reason = Field(description="told to the user and shown in the log")


BlockedWord = Annotated[str, *line(50)]
OptionalReason = Annotated[str, *lines(1000, required=False)]


class ChatSettingsBody(Body):
    slow_mode_seconds: int | None = Field(None, ge=0, le=86400, description="0 turns slow mode off")
    blocked_words: list[BlockedWord] | None = Field(None, max_length=500, description="the whole list")
    reason: OptionalReason | None = None


class ReportTarget(Body):
    type: Literal["post", "comment", "message", "user"]
    id: str = Field(min_length=1, max_length=64)


class ReportCreate(Body):
    target: ReportTarget
    reason: Reason


class ModerationStatusPage(ModerationPage):
    status: Literal["open", "resolved", "pending", "upheld", "overturned", "all"] | None = None


class ReportResolve(Body):
    resolution: LongText = Field(description="what the reporter is told")


class AppealCreate(Body):
    text: LongText


class AppealDecision(Body):
    decision: Literal["upheld", "overturned"]
    response: LongText = Field(description="what the user is told")


class InsightsQuery(Query):
    days: int = Field(28, ge=1, le=90)


class UsageQuery(Query):
    days: int = Field(7, ge=1, le=90)
