"""HS256 JWTs: minting (`live token`) and verification (HTTP and WebSocket)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jwt

from live.errors import ApiError, ErrorCode

ALGORITHM = "HS256"
MAX_NAME = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for."""

    id: str
    name: str


def mint(secret: str, user_id: str, *, name: str | None = None, ttl: int = 3600) -> str:
    """A token for `user_id` valid for `ttl` seconds."""
    _check_sub(user_id)
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "name": name or user_id, "iat": now, "exp": now + ttl}
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
    sub = claims.get("sub")
    try:
        _check_sub(sub)
    except ValueError:
        raise _unauthorized("the token's sub must be a string of 1-64 characters") from None
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        name = sub
    return Principal(id=sub, name=name.strip()[:MAX_NAME])


def _check_sub(sub: object) -> None:
    if not isinstance(sub, str) or not 1 <= len(sub) <= 64:
        raise ValueError("user id must be a string of 1-64 characters")


def _unauthorized(message: str) -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, message)
