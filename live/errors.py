"""The one error root of `live` and the contract's error codes.

Exception tree::

    LiveError                 anything `live` raises on purpose
    ├── ApiError              a request failed with a contract error code (HTTP body / WS error)
    └── SettingsError         a setting is missing or malformed (start-up stops with one line)

Translation to HTTP lives in `live.http.errors`, to WebSocket replies and close codes in
`live.signaling` (one place each).
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(str, enum.Enum):
    """The contract's error codes; the value is what goes on the wire."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_MEMBER = "not_member"
    BANNED = "banned"
    MUTED = "muted"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    COMMUNITY_LIMIT = "community_limit"
    INVITE_QUOTA_EXHAUSTED = "invite_quota_exhausted"
    INVITE_INVALID = "invite_invalid"
    INVITE_REQUIRED = "invite_required"
    INSIGHTS_UNAVAILABLE = "insights_unavailable"
    INVALID_REQUEST = "invalid_request"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    SLOW_MODE = "slow_mode"
    MESSAGE_TOO_LONG = "message_too_long"
    BLOCKED_WORD = "blocked_word"
    UNAVAILABLE = "unavailable"
    SUSPENDED = "suspended"
    BLOCKED = "blocked"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # Beyond the contract's table (documented in docs/api.md): a server bug. Never expected.
    INTERNAL = "internal"

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_MEMBER: 403,
    ErrorCode.BANNED: 403,
    ErrorCode.MUTED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.COMMUNITY_LIMIT: 409,
    ErrorCode.INVITE_QUOTA_EXHAUSTED: 403,
    ErrorCode.INVITE_INVALID: 410,
    ErrorCode.INVITE_REQUIRED: 403,
    ErrorCode.INSIGHTS_UNAVAILABLE: 403,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SLOW_MODE: 429,
    ErrorCode.MESSAGE_TOO_LONG: 422,
    ErrorCode.BLOCKED_WORD: 422,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.SUSPENDED: 403,
    ErrorCode.BLOCKED: 403,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.INTERNAL: 500,
}


class LiveError(Exception):
    """Root of every error `live` raises on purpose."""


class ApiError(LiveError):
    """A request failed with one of the contract's codes.

    `fields` names what failed validation; `retry_after` (seconds) goes with rate limits;
    `until` (ISO 8601 or None) with bans, mutes and suspensions.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        retry_after: float | None = None,
        until: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields
        self.retry_after = retry_after
        self.until = until
        self.status = status if status is not None else code.http_status

    def to_dict(self) -> dict[str, Any]:
        """The `error` object of the contract's body (also the WS error's fields)."""
        body: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.fields is not None:
            body["fields"] = self.fields
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        if self.until is not None:
            body["until"] = self.until
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.code.value!r}, {self.message!r})"


def invalid(fields: dict[str, str], message: str = "the request failed validation") -> ApiError:
    """Shorthand for a 422 `invalid_request` naming the bad fields."""
    return ApiError(ErrorCode.INVALID_REQUEST, message, fields=fields)


def not_found(what: str = "object") -> ApiError:
    return ApiError(ErrorCode.NOT_FOUND, f"no such {what}")


class SettingsError(LiveError):
    """A setting is missing or malformed; the message is one line naming it."""
