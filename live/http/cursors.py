"""Opaque pagination cursors: the sort key of the last item a page returned.

A cursor is base64url JSON of a short list (e.g. `[member_count, id]`); clients treat it as an
opaque string. Anything that does not decode to the expected shape is a 422 `invalid_request`
naming `cursor`, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from live.errors import ApiError, invalid
from live.http import nesting

# A cursor is a flat list: anything nested deeper is not one of ours.
MAX_CURSOR_DEPTH = 2


def encode(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, *types: type) -> list[Any] | None:
    """The key a cursor holds, checked against `types` (one per element); None for no cursor."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = nesting.loads(raw, MAX_CURSOR_DEPTH)
    except (binascii.Error, ValueError):
        raise bad_cursor() from None
    if not isinstance(key, list) or len(key) != len(types):
        raise bad_cursor()
    for value, kind in zip(key, types, strict=True):
        # bool is an int subclass in Python; a cursor never holds one.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad_cursor()
        if isinstance(value, str) and ("\x00" in value or len(value) > 100):
            raise bad_cursor()
    return key


def time_of(raw: str) -> dt.datetime:
    """A timezone-aware time held in a cursor (as `datetime.isoformat()` wrote it)."""
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise bad_cursor() from None
    if value.tzinfo is None:
        raise bad_cursor()
    return value


def bad_cursor() -> ApiError:
    return invalid({"cursor": "not a cursor this endpoint returned"}, "the cursor is not valid")
