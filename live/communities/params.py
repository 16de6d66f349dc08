"""Path parameters of the community endpoints (ids and invite codes)."""

from __future__ import annotations

from typing import Any

from live.errors import not_found
from live.http.api import Ctx

_LONGEST = 64  # every id and code we issue is shorter


def path_id(ctx: Ctx[Any, Any, Any], name: str, what: str = "object") -> str:
    """The path parameter `name`; one we could never have issued is 404 without a database trip.

    This also keeps NUL characters (which PostgreSQL refuses in text) away from queries.
    """
    value = ctx.params[name]
    if not value or len(value) > _LONGEST or "\x00" in value:
        raise not_found(what)
    return value
