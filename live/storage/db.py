"""The database handle: one async engine per process and a session per unit of work."""

from __future__ import annotations

import asyncio
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


SYNCHRONOUS = ("FULL", "NORMAL")  # SQLite's `PRAGMA synchronous` levels we allow (see docs/recovery.md)
WRITER_WAIT_SECONDS = 30.0  # as SQLite's busy timeout: a write waiting longer answers `unavailable`


def create_engine(url: str, *, read_only: bool = False, synchronous: str = "FULL", **kwargs: Any) -> AsyncEngine:
    """An engine tuned for its database.

    SQLite: WAL, foreign keys, a busy timeout (for other processes on the same file), `synchronous`
    as asked. A writing engine opens every transaction with `BEGIN IMMEDIATE`, so it holds the
    write lock from its first statement and never fails to upgrade a read lock ("database is
    locked"); a `read_only` engine opens them with a deferred `BEGIN` on `query_only` connections:
    a snapshot of the last commit that neither waits for the writer nor holds it up (WAL).
    PostgreSQL: pre-ping so a restarted server is noticed, a modest pool.
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}")
        database = sa_url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if read_only:
                cur.execute("PRAGMA query_only=ON")  # a write here is a bug: fail, never take the lock
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """Owns the engines; hands out sessions; answers readiness checks.

    `session()` is a unit of work that may write; `read()` one that only reads. On PostgreSQL both
    are ordinary transactions on one pool. On SQLite, where one writer at a time is the rule
    anyway, every `session()` of this process goes through ONE writer connection (its own thread,
    from aiosqlite), in arrival order behind an asyncio lock: writers queue in memory instead of
    polling SQLite's file lock with the busy handler's sleeps (which made a waiting writer sleep up
    to 100 ms after the lock was free). `read()` uses a pool of read-only connections that read
    the last committed snapshot beside the writer, so the reads of a chat message's rules never
    wait for a chat batch in flight.
    """

    def __init__(self, url: str, *, synchronous: str = "FULL", **engine_kwargs: Any) -> None:
        self.url = url
        self.synchronous = synchronous
        self._sqlite = make_url(url).get_backend_name() == "sqlite"
        if self._sqlite:
            # One connection: the writer. A second write connection could only wait for it.
            write_kwargs = {"pool_size": 1, "max_overflow": 0, **engine_kwargs}
            self.engine = create_engine(url, synchronous=synchronous, **write_kwargs)
            self.read_engine = create_engine(url, read_only=True, synchronous=synchronous, **engine_kwargs)
        else:
            self.engine = create_engine(url, **engine_kwargs)
            self.read_engine = self.engine
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._writer: asyncio.Lock | None = None  # made on first use, in the loop that uses it

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that may write: committed on success, rolled back on error.

        On SQLite it waits its turn for the writer connection (at most WRITER_WAIT_SECONDS).
        A database that cannot be reached becomes 503 `unavailable` (safe to retry).
        """
        if not self._sqlite:
            async with self._unit(self.sessions) as session:
                yield session
            return
        if self._writer is None:
            self._writer = asyncio.Lock()
        try:
            async with asyncio.timeout(WRITER_WAIT_SECONDS):
                await self._writer.acquire()
        except TimeoutError:
            log.warning("database unavailable: the writer was busy for %gs", WRITER_WAIT_SECONDS)
            raise ApiError(ErrorCode.UNAVAILABLE, "the database is busy; retry") from None
        try:
            async with self._unit(self.sessions) as session:
                yield session
        finally:
            self._writer.release()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session in a read-only transaction (one consistent snapshot); on SQLite it runs beside
        the writer, never behind it. Writing in it is a bug (SQLite refuses: `query_only`)."""
        async with self._unit(self.read_sessions) as session:
            yield session

    @asynccontextmanager
    async def _unit(self, maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        try:
            async with maker() as session, session.begin():
                yield session
        except (OperationalError, DBAPIError, OSError) as exc:
            if isinstance(exc, DBAPIError) and not _is_connectivity(exc):
                raise
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise ApiError(ErrorCode.UNAVAILABLE, "the database is unavailable; retry") from exc

    async def ping(self) -> bool:
        try:
            async with self.read_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
            return False

    async def close(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


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
