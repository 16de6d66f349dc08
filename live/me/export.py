"""Everything `live` stores about one user, as one JSON document (GET /v1/me/export).

The document is the user's profile plus, per table, every row that names them: as author,
member, host, reporter, or as the one who acted (invited, decided, moderated). Tables are found
from the schema (`live.me.tables`), so a domain's new table is exported without a change here.

Staff who acted on the user (the moderator of an action against them, who decided their appeal
or resolved their report) are not named: the API shows them by role only, and so does the
export (`moderator_role` stays). Where the user was that staff member, their own id stays.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from live.errors import not_found
from live.me.tables import STAFF_COLUMN_NAMES, row_dict, tables_naming_users
from live.storage.base import iso, utcnow
from live.storage.models import User

FORMAT_VERSION = 1


async def export(session: AsyncSession, user_id: str) -> dict[str, Any]:
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user")
    data: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "exported_at": iso(utcnow()),
        "user": {
            "id": user.id,
            "name": user.name,
            "created_at": iso(user.created_at),
            "updated_at": iso(user.updated_at),
        },
    }
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, columns in tables_naming_users():
        rows = await session.execute(select(table).where(or_(*(c == user_id for c in columns))))
        tables[table.name] = [_without_staff(row_dict(row), user_id) for row in rows]
    data["tables"] = dict(sorted(tables.items()))
    return data


def _without_staff(row: dict[str, Any], user_id: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in STAFF_COLUMN_NAMES or v is None or v == user_id}
