"""HS256 JWTs: minting (`live token`) and verification (HTTP and WebSocket).

A token's claims are input like any other, even when correctly signed (a secret shared with an
operator's app, a bug in the app that mints them): `sub` must be a usable user id, and `name` is
cleaned like every display name (`live.text.clean`). A `sub` that is not an id is `unauthorized`
(HTTP 401, WebSocket close 4001), never a database error.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jwt

from live.errors import ApiError, ErrorCode
from live.text import clean, is_blank

ALGORITHM = "HS256"
MAX_ID = 64
MAX_NAME = 200
# Ids starting with this are the server's own accounts (the tombstone of erased users,
# `~deleted`); no token may speak for them.
RESERVED_PREFIX = "~"


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for."""

    id: str
    name: str


def check_user_id(sub: object) -> str:
    """`sub` if it can be a user id, else ValueError saying why.

    1-64 printable characters (letters of any script, digits, punctuation, inner spaces), no
    leading or trailing whitespace, and not one of the server's reserved ids (`~...`).
    """
    if not isinstance(sub, str):
        raise ValueError("a user id must be a string")
    if not 1 <= len(sub) <= MAX_ID:
        raise ValueError(f"a user id has 1-{MAX_ID} characters")
    if not sub.isprintable():
        raise ValueError("a user id has only printable characters (no control, format or invisible ones)")
    if sub != sub.strip():
        raise ValueError("a user id has no leading or trailing whitespace")
    if sub.startswith(RESERVED_PREFIX):
        raise ValueError(f"user ids starting with {RESERVED_PREFIX!r} are reserved for the server")
    return sub


def display_name(name: object, user_id: str) -> str:
    """The name to show for a `name` claim: cleaned, at most MAX_NAME characters, or the id
    when there is nothing (left) to show."""
    if not isinstance(name, str):
        return user_id
    cleaned = clean(name)[:MAX_NAME].strip()
    return user_id if is_blank(cleaned) else cleaned


def mint(secret: str, user_id: str, *, name: str | None = None, ttl: int = 3600) -> str:
    """A token for `user_id` valid for `ttl` seconds (ValueError for an id no token may carry)."""
    check_user_id(user_id)
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "name": display_name(name, user_id), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str | None, *, leeway: int = 30) -> Principal:
    """The principal of a valid token; ApiError(unauthorized) for anything else."""
    if not token:
        raise _unauthorized("a token is required")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=leeway,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the token has expired") from None
    except jwt.InvalidSignatureError:
        raise _unauthorized("the token's signature is not valid") from None
    except jwt.PyJWTError:
        raise _unauthorized("the token is malformed") from None
    try:
        sub = check_user_id(claims.get("sub"))
    except ValueError as exc:
        raise _unauthorized(f"the token's sub is not a usable user id: {exc}") from None
    return Principal(id=sub, name=display_name(claims.get("name"), sub))


def _unauthorized(message: str) -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, message)
