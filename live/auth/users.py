"""Users are created the first time a valid token is seen; a changed `name` updates them."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from live.auth.tokens import Principal
from live.coalesce import Batcher
from live.storage.base import utcnow
from live.storage.db import Database
from live.storage.models import User


class UserDirectory:
    """Ensures a user row exists for every principal, writing only when something changed.

    A small LRU of (id -> name) already stored keeps the common case (a known user, same
    name) free of database writes; the users first seen in the same event-loop iteration (a
    connect storm) are written together, in one transaction.
    """

    def __init__(self, db: Database, *, cache_size: int = 50_000) -> None:
        self.db = db
        self._known: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self._writes = Batcher(self._write)

    async def ensure(self, principal: Principal) -> None:
        if self._known.get(principal.id) == principal.name:
            self._known.move_to_end(principal.id)
            return
        await self._writes.load((principal.id, principal.name))
        self._remember(principal.id, principal.name)

    async def _write(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], None]:
        """Create or rename the users of one batch (a connect storm): one read, one insert."""
        names = dict(keys)
        async with self.db.session() as session:
            stored = dict((await session.execute(select(User.id, User.name).where(User.id.in_(list(names))))).all())
            for user_id, name in names.items():
                if user_id in stored and stored[user_id] != name:
                    await session.execute(update(User).where(User.id == user_id).values(name=name, updated_at=utcnow()))
            new = [{"id": i, "name": n, "created_at": utcnow(), "updated_at": utcnow()}
                   for i, n in names.items() if i not in stored]
            if new:
                # A concurrent first request (another node, another batch) may create the row
                # first: it exists, which is all we need.
                insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
                await session.execute(insert(User).values(new).on_conflict_do_nothing(index_elements=["id"]))
        return {}

    def forget(self, user_id: str) -> None:
        self._known.pop(user_id, None)

    def _remember(self, user_id: str, name: str) -> None:
        self._known[user_id] = name
        self._known.move_to_end(user_id)
        while len(self._known) > self._cache_size:
            self._known.popitem(last=False)

    async def get(self, user_id: str) -> User | None:
        async with self.db.session() as session:
            return (await session.execute(select(User).where(User.id == user_id))).scalar_one_or_none()
