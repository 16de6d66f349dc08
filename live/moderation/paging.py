"""Pages of moderation records, newest first, keyed by their time-sortable ids.

A cursor is the last id a page returned, base64url-encoded so clients treat it as opaque.
Anything that does not decode to an id is a 422 naming `cursor`, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import re

from live.errors import invalid

_ID = re.compile(r"^[0-9A-Za-z]{1,32}$")


def encode(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = ""
    if not _ID.match(value):
        raise invalid({"cursor": "not a cursor this endpoint returned"}, "the cursor is not valid")
    return value
