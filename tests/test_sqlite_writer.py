"""SQLite's writer and readers (`live.storage.sqlite`, `Database` on SQLite): one writer at a time
in arrival order, reads beside it on the last commit, `synchronous` as configured, a busy writer
answered with `unavailable`, and an acknowledged chat message stored even when the server process
is killed right after."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from live.auth.tokens import mint
from live.client import LiveClient
from live.config import Settings, SettingsError
from live.errors import ApiError, ErrorCode
from live.storage import db as db_module, migrate
from live.storage.db import Database
from live.storage.models import User
from tests.support.processes import python_module
from tests.support.servers import uid

USERS = User.__table__


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> Any:
    db = Database(sqlite_url)
    yield db
    await db.close()


def _add_user(conn: Connection, user_id: str) -> None:
    conn.execute(insert(USERS).values(id=user_id, name=user_id))


def _user_ids(conn: Connection, ids: list[str]) -> list[str]:
    return sorted(r[0] for r in conn.execute(select(USERS.c.id).where(USERS.c.id.in_(ids))))


def test_synchronous_is_full_or_normal() -> None:
    good = {"LIVE_SECRET": "x" * 40}
    assert Settings.load(good).sqlite_synchronous == "FULL"
    assert Settings.load({**good, "LIVE_SQLITE_SYNCHRONOUS": "normal"}).sqlite_synchronous == "NORMAL"
    with pytest.raises(SettingsError, match="LIVE_SQLITE_SYNCHRONOUS"):
        Settings.load({**good, "LIVE_SQLITE_SYNCHRONOUS": "OFF"})
    with pytest.raises(ValueError, match="synchronous"):
        Database("sqlite+aiosqlite:///unused.db", synchronous="OFF")


@pytest.mark.parametrize(("level", "value"), [("FULL", 2), ("NORMAL", 1)])
async def test_every_connection_runs_wal_with_the_configured_synchronous(
    sqlite_url: str, level: str, value: int
) -> None:
    db = Database(sqlite_url, synchronous=level)
    try:
        def pragmas(conn: Connection) -> tuple[str, int]:
            return (conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
                    conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

        async with db.write() as unit:
            assert await unit.run(pragmas) == ("wal", value)
        assert await db.run_read(pragmas) == ("wal", value)
        async with db.session() as session:
            assert (await session.execute(text("PRAGMA synchronous"))).scalar_one() == value
        async with db.read() as session:
            assert (await session.execute(text("PRAGMA synchronous"))).scalar_one() == value
    finally:
        await db.close()


async def test_writers_take_turns_in_arrival_order(sqlite_db: Database) -> None:
    """Write units and ORM write sessions of one process never overlap, and go first come first
    served."""
    order: list[str] = []
    ids = [uid() for _ in range(6)]

    async def unit_writer(i: int) -> None:
        async with sqlite_db.write() as unit:
            order.append(f"start {i}")
            await unit.run(_add_user, ids[i])
            await asyncio.sleep(0.01)  # other writers are queued meanwhile
            order.append(f"end {i}")

    async def session_writer(i: int) -> None:
        async with sqlite_db.session() as session:
            order.append(f"start {i}")
            session.add(User(id=ids[i], name="s"))
            await session.flush()
            await asyncio.sleep(0.01)  # other writers are queued meanwhile (what is under test)
            order.append(f"end {i}")

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(unit_writer(i) if i % 2 else session_writer(i)))
        await asyncio.sleep(0)  # they arrive in this order
    await asyncio.gather(*tasks)
    assert order == [f"{what} {i}" for i in range(6) for what in ("start", "end")]
    assert await sqlite_db.run_read(_user_ids, ids) == sorted(ids)


async def test_reads_go_beside_a_writer_and_see_the_last_commit(sqlite_db: Database) -> None:
    committed, pending = uid(), uid()
    async with sqlite_db.write() as unit:
        await unit.run(_add_user, committed)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with sqlite_db.write() as unit:
            await unit.run(_add_user, pending)
            holding.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await holding.wait()
    # The writer holds SQLite's write lock; reads neither wait for it nor see its uncommitted row.
    assert await sqlite_db.run_read(_user_ids, [committed, pending]) == [committed]
    async with sqlite_db.read() as session:
        found = (await session.execute(select(User.id).where(User.id.in_([committed, pending])))).scalars()
        assert list(found) == [committed]
    release.set()
    await task
    assert await sqlite_db.run_read(_user_ids, [committed, pending]) == sorted([committed, pending])


async def test_a_read_may_not_write(sqlite_db: Database) -> None:
    with pytest.raises(OperationalError, match="readonly"):
        await sqlite_db.run_read(_add_user, uid())
    with pytest.raises(OperationalError, match="readonly"):
        async with sqlite_db.read() as session:
            session.add(User(id=uid(), name="x"))
            await session.flush()


async def test_a_failed_or_cancelled_unit_stores_nothing_and_frees_the_writer(sqlite_db: Database) -> None:
    failed, cancelled, after = uid(), uid(), uid()
    with pytest.raises(RuntimeError):
        async with sqlite_db.write() as unit:
            await unit.run(_add_user, failed)
            raise RuntimeError("boom")
    inside = asyncio.Event()

    async def stuck() -> None:
        async with sqlite_db.write() as unit:
            await unit.run(_add_user, cancelled)
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with sqlite_db.write() as unit:
        await unit.run(_add_user, after)
    assert await sqlite_db.run_read(_user_ids, [failed, cancelled, after]) == [after]


async def test_a_writer_busy_too_long_answers_unavailable(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 0.2)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hog() -> None:
        async with sqlite_db.write():
            holding.set()
            await release.wait()

    task = asyncio.create_task(hog())
    await holding.wait()
    for unit in (sqlite_db.write(), sqlite_db.session()):
        with pytest.raises(ApiError) as err:
            async with unit:
                pass
        assert err.value.code is ErrorCode.UNAVAILABLE
    release.set()
    await task
    async with sqlite_db.write():  # free again
        pass


async def test_a_writer_of_another_process_is_waited_for_off_the_loop(sqlite_db: Database, sqlite_url: str) -> None:
    """Another connection (another process, for SQLite) holds the write lock: a write unit waits
    for it on the writer thread, reads and the loop go on, and the unit stores once it is free."""
    other = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
    mine, theirs = uid(), uid()
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO users (id, name, created_at, updated_at) VALUES (?, 'o', '2026-01-01', '2026-01-01')",
            (theirs,),
        )

        async def write() -> None:
            async with sqlite_db.write() as unit:
                await unit.run(_add_user, mine)

        task = asyncio.create_task(write())
        for _ in range(20):  # the loop keeps turning while the unit waits
            await asyncio.sleep(0.005)
            assert await sqlite_db.run_read(_user_ids, [mine, theirs]) == []
        assert not task.done()
        other.execute("COMMIT")
        await task
    finally:
        other.close()
    assert await sqlite_db.run_read(_user_ids, [mine, theirs]) == sorted([mine, theirs])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("level", ["FULL", "NORMAL"])
async def test_acknowledged_messages_survive_a_killed_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    """`ok` is sent only after the commit: kill -9 the server while messages are in flight, and
    every message it acknowledged is in the database file."""
    path = tmp_path / "live.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate.upgrade(url)
    secret, port = secrets.token_urlsafe(32), _free_port()
    for key, value in {
        "LIVE_DATABASE_URL": url, "LIVE_SECRET": secret, "LIVE_PORT": str(port), "LIVE_HOST": "127.0.0.1",
        "LIVE_VAR_DIR": str(tmp_path / "var"), "LIVE_SQLITE_SYNCHRONOUS": level, "LIVE_REDIS_URL": "",
        "LIVE_CHAT_RATE": "1000", "LIVE_CHAT_BURST": "1000", "LIVE_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    owner = uid()
    base = f"http://127.0.0.1:{port}"
    async with python_module("live", "serve", port=port, timeout=60) as proc:
        headers = {"Authorization": f"Bearer {mint(secret, owner, name='Owner')}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            community = (await http.post("/v1/communities", json={"name": "c", "join_policy": "open"})).json()
            live = (await http.post(f"/v1/communities/{community['id']}/live", json={"title": "t"})).json()
        room = live["room"]
        # Several connections: one may send at most a burst of frames (the flood limit).
        clients = [await LiveClient.connect(base, mint(secret, owner, name="Owner")) for _ in range(8)]
        for client in clients:
            await client.request("room.join", room=room)
        acked: dict[int, str] = {}

        async def send(client: LiveClient, i: int) -> None:
            reply = await client.request("chat.send", room=room, text=f"m{i}", nonce=f"n{i}", timeout=30)
            acked[reply["seq"]] = f"m{i}"

        sends = [asyncio.create_task(send(clients[i % 8], i)) for i in range(320)]
        while len(acked) < 100:
            await asyncio.wait(sends, return_when=asyncio.FIRST_COMPLETED)
            sends = [t for t in sends if not t.done()]
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown: whatever was not committed is gone
        snapshot = dict(acked)
        await proc.wait()
        await asyncio.gather(*sends, return_exceptions=True)
        for client in clients:
            await client.close()
    with sqlite3.connect(path) as conn:
        stored = dict(conn.execute("SELECT seq, text FROM chat_messages WHERE room = ?", (room,)).fetchall())
    assert len(snapshot) >= 100
    assert {seq: stored.get(seq) for seq in snapshot} == snapshot
