"""Storage on both databases: migrations match the models, and the basics behave alike."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from live.auth.tokens import Principal
from live.auth.users import UserDirectory
from live.errors import ApiError, ErrorCode
from live.storage import migrate
from live.storage.all_models import metadata
from live.storage.base import iso
from live.storage.db import Database
from live.storage.ids import new_id
from live.storage.models import User
from tests.support.servers import uid


async def test_migrations_are_at_head_and_match_the_models(db_url: str) -> None:
    assert await migrate.current_revision(db_url) == migrate.head_revision()
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": False}), metadata)
            )
    finally:
        await db.close()
    assert diff == [], f"models and migrations disagree: {diff}"


async def test_times_come_back_aware_utc(db_url: str) -> None:
    db = Database(db_url)
    user_id = uid()
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    async with db.session() as s:
        s.add(User(id=user_id, name="T", created_at=when, updated_at=when))
    async with db.session() as s:
        user = await s.get(User, user_id)
        assert user is not None
        assert user.created_at == when and user.created_at.tzinfo is not None
        assert iso(user.created_at) == "2026-01-01T22:04:05Z"
    await db.close()


async def test_unicode_is_stored_exactly(db_url: str) -> None:
    db = Database(db_url)
    user_id = uid()
    name = "نورة 👩‍👧 Zoë עברית"
    async with db.session() as s:
        s.add(User(id=user_id, name=name))
    async with db.session() as s:
        assert (await s.get(User, user_id)).name == name  # type: ignore[union-attr]
    await db.close()


async def test_concurrent_first_sight_creates_one_user(db_url: str) -> None:
    db = Database(db_url)
    user_id = uid()
    directories = [UserDirectory(db) for _ in range(10)]  # ten nodes, none has seen the user
    await asyncio.gather(*(d.ensure(Principal(user_id, "Same")) for d in directories))
    async with db.session() as s:
        assert (await s.get(User, user_id)).name == "Same"  # type: ignore[union-attr]
    await db.close()


def test_ids_sort_by_time_and_do_not_repeat() -> None:
    ids = [new_id(now_ms=1000 + i) for i in range(100)]
    assert ids == sorted(ids) and len(set(ids)) == 100 and all(len(i) == 26 for i in ids)
    assert len({new_id(now_ms=5) for _ in range(1000)}) == 1000


async def test_downgrade_and_upgrade_round_trip(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rt.db'}"
    await migrate.upgrade(url)
    await migrate.downgrade(url, "base")
    assert await migrate.current_revision(url) is None
    await migrate.upgrade(url)
    assert await migrate.current_revision(url) == migrate.head_revision()


async def _backend_pid(db: Database) -> int:
    return int(await db.run_read(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar_one()))


async def _terminate(url: str, pid: int) -> None:
    admin = Database(url)
    try:
        async with admin.engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar_one()
    finally:
        await admin.close()


@pytest.mark.postgres
async def test_an_idle_pooled_connection_that_died_is_replaced_before_use(postgres_url: str | None) -> None:
    """PostgreSQL cut a pooled connection while it sat idle (a restart, a proxy's timeout): the
    next transaction pings it first and runs on a new one, with no error."""
    if postgres_url is None:
        pytest.skip("no PostgreSQL")
    db = Database(postgres_url, idle_ping_seconds=0.05)
    try:
        first = await _backend_pid(db)
        await _terminate(postgres_url, first)
        await asyncio.sleep(0.1)  # past the idle threshold
        assert await _backend_pid(db) != first
    finally:
        await db.close()


@pytest.mark.postgres
async def test_a_connection_used_a_moment_ago_is_not_pinged(postgres_url: str | None) -> None:
    """No round trip before a transaction on a warm connection; one cut meanwhile fails a single
    statement with `unavailable` (safe to retry), and the pool starts over on fresh connections."""
    if postgres_url is None:
        pytest.skip("no PostgreSQL")
    db = Database(postgres_url, idle_ping_seconds=60)
    pings = 0
    ping = db.engine.dialect.do_ping

    def counted(dbapi: object) -> bool:
        nonlocal pings
        pings += 1
        return ping(dbapi)

    db.engine.dialect.do_ping = counted  # type: ignore[method-assign]
    try:
        first = await _backend_pid(db)
        assert await _backend_pid(db) == first
        assert pings == 0
        await _terminate(postgres_url, first)
        with pytest.raises(ApiError) as failed:
            await _backend_pid(db)
        assert failed.value.code is ErrorCode.UNAVAILABLE
        assert await _backend_pid(db) != first
    finally:
        await db.close()
