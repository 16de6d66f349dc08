"""Pages of moderation records, newest first, keyed by their time-sortable ids.

The cursor is the last id a page returned, in the shared opaque cursor format
(`live.http.cursors`); anything else is a 422 naming `cursor`, never a 500.
"""

from __future__ import annotations

import re

from live.http import cursors

_ID = re.compile(r"^[0-9A-Za-z]{1,32}$")


def encode(last_id: str) -> str:
    return cursors.encode(last_id)


def decode(cursor: str | None) -> str | None:
    key = cursors.decode(cursor, str)
    if key is None:
        return None
    if not _ID.match(key[0]):
        raise cursors.bad_cursor()
    return str(key[0])
