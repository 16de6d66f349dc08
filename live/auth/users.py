"""Users are created the first time a valid token is seen; a changed `name` updates them."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from live.auth.tokens import Principal
from live.storage.db import Database
from live.storage.models import User


class UserDirectory:
    """Ensures a user row exists for every principal, writing only when something changed.

    A small LRU of (id -> name) already stored keeps the common case (a known user, same
    name) free of database writes.
    """

    def __init__(self, db: Database, *, cache_size: int = 50_000) -> None:
        self.db = db
        self._known: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def ensure(self, principal: Principal) -> None:
        if self._known.get(principal.id) == principal.name:
            self._known.move_to_end(principal.id)
            return
        try:
            async with self.db.session() as session:
                user = await session.get(User, principal.id)
                if user is None:
                    session.add(User(id=principal.id, name=principal.name))
                elif user.name != principal.name:
                    user.name = principal.name
        except IntegrityError:
            pass  # a concurrent first request created the row: it exists, which is all we need
        self._remember(principal.id, principal.name)

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
