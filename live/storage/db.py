"""The database handle: the engines of one process and the units of work they hand out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from live.errors import ApiError, ErrorCode
from live.storage.sqlite import SqliteLink, configure

P = ParamSpec("P")
T = TypeVar("T")

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
    PostgreSQL: a modest pool whose idle connections are pinged before use (`ping_when_idle`).
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}")
        database = sa_url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        configure(engine.sync_engine, begin="BEGIN" if read_only else "BEGIN IMMEDIATE", synchronous=synchronous,
                  read_only=read_only)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    idle_ping = kwargs.pop("idle_ping_seconds", IDLE_PING_SECONDS)
    engine = create_async_engine(url, **kwargs)
    ping_when_idle(engine, idle_ping)
    return engine


# A pooled PostgreSQL connection unused for this long is pinged before it is handed out again.
IDLE_PING_SECONDS = 5.0


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before handing it out, if it sat unused `idle_seconds` or more.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: on asyncpg that is a BEGIN and a
    ROLLBACK, two round trips before each transaction, a third of a chat append's (whose
    transaction is six) and more of a short read's. A connection used a moment ago is as good as
    its last statement said; one that sat idle may have been cut (PostgreSQL restarted, a proxy's
    timeout) and is pinged first. A dead one is replaced (`DisconnectionError`: the pool opens
    another). A connection that dies while in use fails its statement, which answers
    `unavailable` (safe to retry); SQLAlchemy then retires every connection of the pool opened
    before it, so the next transaction starts on a fresh one.
    """
    dialect = engine.dialect

    def checked_in(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or used a moment ago
        try:
            dialect.do_ping(dbapi)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection idle for {time.monotonic() - since:.0f}s is gone") from exc

    event.listen(engine.sync_engine, "checkin", checked_in)
    event.listen(engine.sync_engine, "checkout", checked_out)


class WriteUnit(Protocol):
    """A write transaction whose work is synchronous functions: `await unit.run(fn, *args)` calls
    `fn(conn, *args)` with a SQLAlchemy `Connection` in the transaction."""

    async def run(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T: ...


class _AsyncUnit:
    """`WriteUnit` on an async connection (PostgreSQL): each statement of `fn` awaits the driver."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def run(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._conn.run_sync(fn, *args, **kwargs)


class Database:
    """Owns the engines; hands out units of work; answers readiness checks.

    Units that may write: `session()` (an ORM session) and `write()` (synchronous functions, for
    the hot paths). Units that only read: `read()` (an ORM session) and `run_read(fn)`.

    PostgreSQL: ordinary transactions on one pool of asyncpg connections, all of them concurrent
    (row locks order the writers that need it).

    SQLite, one writer at a time by its nature: every write unit of this process waits for its
    turn behind one asyncio lock, in arrival order, instead of polling SQLite's file lock with the
    busy handler's sleeps (which let a waiting writer sleep up to 100 ms after the lock was free).
    `write()` and `run_read()` run their statements on the loop and only the COMMIT (an fsync with
    `synchronous=FULL`) on the writer's thread (`live.storage.sqlite`, which says why);
    `session()` and `read()` go through aiosqlite (a thread hop per statement).
    Reads use read-only connections on the last committed snapshot (WAL): they never wait for a
    writer, nor hold one up.
    """

    def __init__(self, url: str, *, synchronous: str = "FULL", **engine_kwargs: Any) -> None:
        self.url = url
        self.synchronous = synchronous
        self.link: SqliteLink | None = None
        if make_url(url).get_backend_name() == "sqlite":
            # One connection: a second write connection of this process could only wait for it.
            write_kwargs = {"pool_size": 1, "max_overflow": 0, **engine_kwargs}
            self.engine = create_engine(url, synchronous=synchronous, **write_kwargs)
            self.read_engine = create_engine(url, read_only=True, synchronous=synchronous, **engine_kwargs)
            self.link = SqliteLink(url, synchronous=synchronous)
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

        On SQLite it waits its turn for the writer (at most WRITER_WAIT_SECONDS).
        A database that cannot be reached becomes 503 `unavailable` (safe to retry).
        """
        async with self._turn(), _unavailable_on_failure(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteUnit]:
        """A write transaction run as synchronous functions (`WriteUnit.run`): committed when the
        block ends, rolled back when it raises. On SQLite `run` calls the function on the loop
        and the COMMIT goes to the writer thread; on PostgreSQL `run` is `run_sync` on a pooled
        connection. Work between two `run`s (a publish) happens inside the transaction."""
        async with self._turn(), _unavailable_on_failure():
            if self.link is not None:
                async with self.link.write() as unit:
                    yield unit
            else:
                async with self.engine.connect() as conn, conn.begin():
                    yield _AsyncUnit(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session in a read-only transaction (one consistent snapshot); on SQLite it runs beside
        the writer, never behind it. Writing in it is a bug (SQLite refuses: `query_only`)."""
        async with _unavailable_on_failure(), self.read_sessions() as session, session.begin():
            yield session

    async def run_read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(conn, *args)` in a read-only transaction (on SQLite: on the loop, beside the writer)."""
        async with _unavailable_on_failure():
            if self.link is not None:
                return await self.link.read(fn, *args, **kwargs)
            async with self.engine.connect() as conn, conn.begin():
                return await conn.run_sync(fn, *args, **kwargs)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """On SQLite, this process's writers one at a time, first come first served."""
        if self.link is None:
            yield
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
            yield
        finally:
            self._writer.release()

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
        if self.link is not None:
            await asyncio.to_thread(self.link.close)


@asynccontextmanager
async def _unavailable_on_failure() -> AsyncIterator[None]:
    """A database that cannot be reached (or is locked past the busy timeout) becomes 503
    `unavailable` (safe to retry); any other database error goes on as it is."""
    try:
        yield
    except (OperationalError, DBAPIError, OSError) as exc:
        if isinstance(exc, DBAPIError) and not _is_connectivity(exc):
            raise
        _UNAVAILABLE_LOG.warn(exc)
        raise ApiError(ErrorCode.UNAVAILABLE, "the database is unavailable; retry") from exc


class _ThrottledWarning:
    """"database unavailable" at most once every `every` seconds, with how many were left unsaid:
    while the database is down every request fails, and a line per request would flood the log."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = -float("inf")
        self.unsaid = 0

    def warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.unsaid += 1
            return
        more = f" ({self.unsaid} more since the last line)" if self.unsaid else ""
        first_line = (str(exc).splitlines() or [""])[0][:200]
        log.warning("database unavailable: %s: %s%s", type(exc).__name__, first_line, more)
        self.last, self.unsaid = now, 0


_UNAVAILABLE_LOG = _ThrottledWarning(5.0)

_CONNECTIVITY_ERRORS = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "ConnectionFailureError",
    "TooManyConnectionsError",
    "InterfaceError",
    "AdminShutdownError",
    "CrashShutdownError",
}

# SQLSTATE classes of "not reachable now": 08 (connection exception) and 57P (operator intervention:
# admin/crash shutdown, cannot connect now, e.g. "the database system is shutting down").
_CONNECTIVITY_SQLSTATES = ("08", "57P")


def _is_connectivity(exc: DBAPIError) -> bool:
    """Whether a driver error means "the database is not reachable now" (retry later).

    The driver's own exception may sit anywhere in the chain: SQLAlchemy wraps the asyncpg adapter's
    error, which wraps asyncpg's (`CannotConnectNowError` while PostgreSQL shuts down), so every
    link is looked at: its type, its SQLSTATE, an OSError, the usual messages.
    """
    if exc.connection_invalidated:
        return True
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if _link_is_connectivity(link):
            return True
        link = link.__cause__ or link.__context__
    return _link_is_connectivity(exc.orig) if exc.orig is not None else False


def _link_is_connectivity(link: BaseException) -> bool:
    if isinstance(link, (OSError, TimeoutError)):
        return True
    if type(link).__name__ in _CONNECTIVITY_ERRORS:
        return True
    sqlstate = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_CONNECTIVITY_SQLSTATES):
        return True
    message = str(link).lower()
    return (
        "database is locked" in message
        or "unable to open database" in message
        or "connection refused" in message
        or "the database system is" in message  # shutting down / starting up / in recovery mode
        or "connection was closed" in message
    )
