"""Finding a user's rows in any table, including tables of domains this package does not know.

Export and erasure must cover every table that names a user. Rather than keep a list that goes
stale when a domain adds a table, the columns are found from the schema: foreign keys to
`users.id`, and string columns named like a user reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, String, Table

from live.storage.all_models import metadata
from live.storage.base import iso

# Columns saying whose row it is (the user wrote it, joined, hosted...).
OWNER_COLUMN_NAMES = frozenset({"user_id", "author_id", "host_id", "reporter_id", "created_by", "sender_id"})
# Columns saying who acted on someone else's row (invited them, decided, moderated).
ACTOR_COLUMN_NAMES = frozenset({"invited_by", "used_by", "decided_by", "resolved_by", "moderator_id"})
# Columns whose rows are content the user authored (erasure blanks their text).
AUTHOR_COLUMN_NAMES = frozenset({"user_id", "author_id", "sender_id"})
# Staff who acted on the user's row (moderated them, decided their appeal, resolved their report):
# the API shows these people by role only, so an export leaves them out unless it is the user.
STAFF_COLUMN_NAMES = frozenset({"moderator_id", "decided_by", "resolved_by"})
# Free text a user writes on rows they own beyond the usual `text` column (erasure blanks it),
# and the text others wrote about it that would tell what it said.
OWNED_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "lives": ("title",),
    "chat_messages": ("text", "delete_reason"),
}


def user_columns(table: Table) -> list[Column[Any]]:
    """The columns of `table` that hold a user id."""
    found: list[Column[Any]] = []
    for column in table.c:
        refers_to_users = any(fk.column.table.name == "users" for fk in column.foreign_keys)
        named_like_user = column.name in OWNER_COLUMN_NAMES | ACTOR_COLUMN_NAMES and isinstance(
            column.type, String
        )
        if refers_to_users or named_like_user:
            found.append(column)
    return found


def tables_naming_users(skip: frozenset[str] = frozenset()) -> Iterator[tuple[Table, list[Column[Any]]]]:
    """Every table (children first, so deletes respect foreign keys) with user columns."""
    for table in reversed(metadata.sorted_tables):
        if table.name == "users" or table.name in skip:
            continue
        columns = user_columns(table)
        if columns:
            yield table, columns


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def row_dict(row: Any) -> dict[str, Any]:
    return {key: jsonable(value) for key, value in row._mapping.items()}
