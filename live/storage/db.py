"""The database handle: one async engine per process and a session per unit of work."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from live.errors import ApiError, ErrorCode

log = logging.getLogger("live.storage")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine tuned for its database.

    SQLite: WAL, foreign keys, a busy timeout, and `BEGIN IMMEDIATE` for every transaction so two
    writers queue on the lock instead of failing to upgrade a read lock ("database is locked").
    PostgreSQL: pre-ping so a restarted server is noticed, a modest pool.
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """Owns the engine; hands out sessions; answers readiness checks."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error.

        A database that cannot be reached becomes 503 `unavailable` (safe to retry).
        """
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except (OperationalError, DBAPIError, OSError) as exc:
            if isinstance(exc, DBAPIError) and not _is_connectivity(exc):
                raise
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise ApiError(ErrorCode.UNAVAILABLE, "the database is unavailable; retry") from exc

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
            return False

    async def close(self) -> None:
        await self.engine.dispose()


_CONNECTIVITY_ERRORS = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "ConnectionFailureError",
    "TooManyConnectionsError",
    "InterfaceError",
}


def _is_connectivity(exc: DBAPIError) -> bool:
    """Whether a driver error means "the database is not reachable now" (retry later)."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, OSError):
        return True
    message = str(orig).lower()
    return (
        type(orig).__name__ in _CONNECTIVITY_ERRORS
        or "database is locked" in message
        or "unable to open database" in message
        or "connection refused" in message
    )
