"""SQLite's hot paths: the statements on the event loop, the commit (and its fsync) on a thread.

Through aiosqlite every statement is several trips between the event loop and the connection's
thread (cursor, execute, fetch, close). Each trip costs a wake-up of the other thread and a
hand-over of the GIL, and while the loop is busy (a room fanning out to 500 sockets) a thread
that wants the GIL back waits for the interpreter's switch interval, 5 ms, after every SQLite
call it made: measured on one core, a three-query read took 0.6 ms on an idle loop and 5 to 10 ms
on a busy one, and a chat batch of six statements held the room's write lock for 80 ms.

The statements themselves are short: indexed reads and writes of a few rows, in the page cache,
half a millisecond with SQLAlchemy's Python around them. So the hot paths run them on the event
loop, synchronously, as a plain function `fn(conn, *args)` over a SQLAlchemy `Connection` (the
same Core statements as on PostgreSQL), and only what may wait leaves the loop:

- `SqliteLink.read(fn)`: one read-only connection (`query_only`), a deferred transaction: a
  snapshot of the last commit that neither waits for the writer nor holds it up (WAL).
- `SqliteLink.write()`: THE writer connection of this process. The caller (`Database`) queues
  the units of this process in arrival order, so `BEGIN IMMEDIATE` finds the lock free unless
  another process holds it: it is tried at once (no busy wait on the loop) and, when busy, waited
  for on the writer thread with SQLite's busy timeout. The statements run on the loop; the
  COMMIT, which with `synchronous=FULL` is an fsync, runs on the writer thread, so the loop goes
  on while the disk works.

`configure` sets the same pragmas as the async engines', so every connection of a process agrees
on WAL, foreign keys, the busy timeout and `synchronous`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, RootTransaction, make_url
from sqlalchemy.exc import OperationalError

P = ParamSpec("P")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000


def configure(engine: Engine, *, begin: str | None, synchronous: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS,
              read_only: bool = False) -> None:
    """Pragmas on every new connection; `begin` ("BEGIN IMMEDIATE", "BEGIN", or None when the
    caller issues it) opens each transaction."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if read_only:
            cur.execute("PRAGMA query_only=ON")  # a write here is a bug: fail, never take the lock
        cur.close()

    if begin is not None:
        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)


class WriteUnit:
    """A write transaction on the writer connection: `await unit.run(fn, *args)` calls
    `fn(conn, *args)` on the loop; the first call opens the transaction."""

    def __init__(self, link: SqliteLink) -> None:
        self._link = link
        self._tx: RootTransaction | None = None

    async def run(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        conn = self._link.writer
        if self._tx is None:
            self._tx = conn.begin()  # SQLAlchemy's side; SQLite's BEGIN follows
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                # Another process writes: wait for it off the loop, with the busy timeout.
                await finish(self._link.on_writer(_begin_waiting, conn))
        return fn(conn, *args, **kwargs)

    def rollback(self) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.rollback()

    def commit(self) -> None:
        """On the writer thread: COMMIT (and its fsync)."""
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.commit()


async def finish(future: asyncio.Future[T]) -> T:
    """Await work on the writer thread to its end even when cancelled meanwhile (then re-raise the
    cancellation): the connection must never be used on the loop while the thread still uses it."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()


def _begin_waiting(conn: Connection) -> None:
    conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        conn.exec_driver_sql("PRAGMA busy_timeout=0")


class SqliteLink:
    """The writer and reader connections of one SQLite file for the hot paths, and the writer's thread."""

    def __init__(self, url: str, *, synchronous: str) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        # check_same_thread off: the writer's statements run on the loop and its COMMIT on the
        # writer thread, one after the other, never at once.
        args = {"check_same_thread": False}
        self._write_engine = sqlalchemy.create_engine(sync_url, poolclass=sqlalchemy.pool.StaticPool, connect_args=args)
        # busy_timeout 0: on the loop, a lock held by another process must fail at once, not sleep.
        configure(self._write_engine, begin=None, synchronous=synchronous, busy_timeout_ms=0)
        self._read_engine = sqlalchemy.create_engine(sync_url, poolclass=sqlalchemy.pool.StaticPool, connect_args=args)
        configure(self._read_engine, begin="BEGIN", synchronous=synchronous, read_only=True)
        self._writer_conn: Connection | None = None
        self._reader_conn: Connection | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    @property
    def writer(self) -> Connection:
        if self._writer_conn is None:
            self._writer_conn = self._write_engine.connect()
        return self._writer_conn

    def on_writer(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.wrap_future(self._thread.submit(fn, *args))

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[WriteUnit]:
        """A write unit: committed when the block ends (on the writer thread), rolled back when
        it raises.

        Cancelled while its COMMIT is on the thread, the commit still completes there: the next
        unit waits for it (the thread runs one thing at a time, in order).
        """
        unit = WriteUnit(self)
        try:
            yield unit
        except BaseException:
            unit.rollback()
            raise
        await finish(self.on_writer(unit.commit))

    async def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(conn, *args)` in a read-only transaction, on the loop (see the module's docstring)."""
        if self._reader_conn is None:
            self._reader_conn = self._read_engine.connect()
        with self._reader_conn.begin():
            return fn(self._reader_conn, *args, **kwargs)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        for conn in (self._writer_conn, self._reader_conn):
            if conn is not None:
                conn.close()
        self._write_engine.dispose()
        self._read_engine.dispose()
