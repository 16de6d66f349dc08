"""SQLite's own threads: one writer connection and a few readers, where a unit of work is one hop.

Through aiosqlite every statement is several trips between the event loop and the connection's
thread (cursor, execute, fetch, close), each a wake-up of the other thread and a hand-over of the
GIL; with the server on one core, a chat batch of six statements was two dozen of them, and the
room's write lock was held across all. Here a unit of work is a plain synchronous function
`fn(conn, *args)` over a SQLAlchemy `Connection` (the same Core statements as anywhere else), and
it runs on the connection's thread in one call:

- `SqliteThreads.write()`: the writer. ONE connection on ONE thread, `BEGIN IMMEDIATE`, so a unit
  holds SQLite's write lock from its first statement; the caller (`Database`) queues the units of
  this process in arrival order before they reach it.
- `SqliteThreads.read(fn)`: read-only connections (`query_only`) on a small pool of threads, in a
  deferred transaction: one snapshot of the last commit, beside the writer (WAL), never behind it.

`pragmas` and the BEGIN are the same as the async engines' (`configure`), so every connection of a
process agrees on WAL, foreign keys, the busy timeout (for other processes on the same file) and
`synchronous`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

P = ParamSpec("P")
T = TypeVar("T")

READERS = 2  # reader threads: a read is short, and the GIL runs one of them at a time anyway
BUSY_TIMEOUT_MS = 30_000


def configure(engine: Engine, *, read_only: bool, synchronous: str) -> None:
    """Pragmas on every new connection, and our own BEGIN (IMMEDIATE to write, deferred to read)."""
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if read_only:
            cur.execute("PRAGMA query_only=ON")  # a write here is a bug: fail, never take the lock
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


class WriteUnit:
    """A write transaction on the writer thread: `await unit.run(fn, *args)` calls `fn(conn, *args)`
    there; the first call also opens the connection and the transaction (same hop)."""

    def __init__(self, threads: SqliteThreads) -> None:
        self._threads = threads
        self._conn: Connection | None = None

    async def run(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._threads.on_writer(self._call, fn, *args, **kwargs)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._conn is None:
            self._conn = self._threads.write_engine.connect()
            self._conn.begin()
        return fn(self._conn, *args, **kwargs)

    def finish(self, commit: bool) -> None:
        """Commit (or roll back) and give the connection back; on the writer thread."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        finally:
            conn.close()


class SqliteThreads:
    """The writer and reader threads of one SQLite database file."""

    def __init__(self, url: str, *, synchronous: str, readers: int = READERS) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        # check_same_thread off: a pooled connection may be handed to another thread of the same
        # pool later, never to two at once.
        args = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        self.write_engine = sqlalchemy.create_engine(sync_url, pool_size=1, max_overflow=0, connect_args=args)
        configure(self.write_engine, read_only=False, synchronous=synchronous)
        self.read_engine = sqlalchemy.create_engine(sync_url, pool_size=readers, max_overflow=0, connect_args=args)
        configure(self.read_engine, read_only=True, synchronous=synchronous)
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = concurrent.futures.ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")

    def on_writer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
        return asyncio.wrap_future(self._writer.submit(fn, *args, **kwargs))

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[WriteUnit]:
        """A write unit: committed when the block ends, rolled back when it raises.

        Cancelled while a call is on the thread, the call still finishes there; the rollback is
        queued behind it on the same thread, so the next unit never starts inside this one.
        """
        unit = WriteUnit(self)
        try:
            yield unit
        except BaseException:
            done = self._writer.submit(unit.finish, False)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.wrap_future(done))
            raise
        await self.on_writer(unit.finish, True)

    async def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(conn, *args)` in a read-only transaction on a reader thread (one hop)."""
        return await asyncio.wrap_future(self._readers.submit(self._read, fn, *args, **kwargs))

    def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.read_engine.connect() as conn, conn.begin():
            return fn(conn, *args, **kwargs)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()
