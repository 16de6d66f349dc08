"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, and real servers.

- PostgreSQL: `LIVE_TEST_POSTGRES_URL` (default: the machine's, postgres@127.0.0.1:5432/test). The
  suite makes a fresh database for the run and drops it after. Where none answers, every
  PostgreSQL-parametrized test is skipped and the run ends with a loud banner saying so.
- Redis: `LIVE_TEST_REDIS_URL` (default: 127.0.0.1:6379). Where none answers, the suite starts its
  own `redis-server` on a free port. Tests that stop or restart Redis always start their own
  (`tests.support.redis_server.RedisServer`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from live.storage import migrate
from tests.support import banner
from tests.support.redis_server import RedisServer
from tests.support.servers import RunningServer, run_server, settings

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"



def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """pyproject's addopts run the suite in parallel (`-n 4 --dist loadgroup`); with pytest-xdist
    switched off (`-p no:xdist`) those options are still accepted, and the run is serial."""
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist is off: these do nothing")
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None)  # as xdist does
        group.addoption("--dist", dest="dist", default="no")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 1):
            return True
    except OSError:
        return False


# -- PostgreSQL ---------------------------------------------------------------------------------


async def _create_pg_database(admin_url: str) -> str:
    import asyncpg

    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # one database per xdist worker
    name = f"live_test_{worker}_{os.getpid()}_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def _drop_pg_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    admin = os.environ.get("LIVE_TEST_POSTGRES_URL", DEFAULT_PG)
    if not _reachable(admin, 5432):
        banner.say(f"PostgreSQL is not reachable at {admin}: the PostgreSQL leg was SKIPPED.")
        yield None
        return
    try:
        url = asyncio.run(_create_pg_database(admin))
        asyncio.run(migrate.upgrade(url))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no PostgreSQL leg"
        banner.say(f"PostgreSQL at {admin} could not be used ({exc!r}): its leg was SKIPPED.")
        yield None
        return
    yield url
    asyncio.run(_drop_pg_database(admin, url))


@pytest.fixture(scope="session")
def sqlite_url() -> Iterator[str]:
    path = Path(tempfile.mkdtemp(prefix="live-sqlite-")) / "live.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(migrate.upgrade(url))
    yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """A migrated database: the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip("PostgreSQL is not reachable (see the banner at the end of the run)")
    return url


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`@pytest.mark.transport_only`: HTTP/WebSocket transport behaviour the database has no part
    in runs once, on SQLite, instead of once per database."""
    if "db_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("transport_only"):
        # As a mark, which pytest lets win over the fixture's own params (ids stay `[sqlite]`).
        metafunc.definition.add_marker(pytest.mark.parametrize("db_url", ["sqlite"], indirect=True))


# -- Redis --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis for tests that only need one to be there (not to stop it)."""
    url = os.environ.get("LIVE_TEST_REDIS_URL", DEFAULT_REDIS)
    if _reachable(url, 6379):
        yield url
        return
    try:
        server = RedisServer().start()
    except RuntimeError as exc:
        banner.say(f"No Redis at {url} and none could be started ({exc}): Redis tests FAILED.")
        raise
    banner.say(f"No Redis at {url}: the suite started its own on port {server.port}.")
    yield server.url
    server.cleanup()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server this test may stop and restart."""
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_prefix() -> str:
    """A key/channel prefix private to this test, so tests sharing a Redis do not hear each other."""
    return f"t{secrets.token_hex(4)}:"


# -- servers ------------------------------------------------------------------------------------


@pytest.fixture
async def server(db_url: str) -> AsyncIterator[RunningServer]:
    """A real `live` server (in-process bus) on SQLite, then on PostgreSQL."""
    async with run_server(settings(database_url=db_url)) as running:
        yield running


@pytest.fixture
async def sqlite_server(sqlite_url: str) -> AsyncIterator[RunningServer]:
    """A real `live` server on SQLite only (for tests of the transport, not of the database)."""
    async with run_server(settings(database_url=sqlite_url)) as running:
        yield running


@pytest.fixture
def make_settings(db_url: str) -> Any:
    """Settings on this test's database, with overrides."""

    def make(**overrides: Any) -> Any:
        overrides.setdefault("database_url", db_url)
        return settings(**overrides)

    return make


# -- order: the long tests first ---------------------------------------------------------------

# Modules whose tests take seconds to tens of seconds each (browsers, media processes, load runs,
# several nodes). Run first, so that pytest-xdist spreads them over the workers at the start
# instead of leaving one worker with a long one at the end. Whole modules move, in their order.
LONG_FIRST = (
    "test_web_hls", "test_web_live", "test_web_arabic", "test_media_tree", "test_web_browser",
    "test_loadtest", "test_loadtest_node", "test_multinode_acceptance", "test_notifications_restart",
    "test_multinode", "test_media_relay", "test_web_reach", "test_loadtest_ladder", "test_loadtest_hls",
    "test_media_tools", "test_communities_robustness", "test_moderation_robustness", "test_media_workers",
    "test_loadtest_media", "test_loadtest_hosts", "test_media_gateway", "test_hls",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rsplit(".", 1)[-1] if item.module else "", len(rank)))


# -- the end-of-run banner, once for the whole run ------------------------------------------------


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands its banner lines to the controller, which prints them once."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["banner"] = list(banner.LINES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    for line in getattr(node, "workeroutput", {}).get("banner", []):
        banner.say(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in banner.LINES:
        terminalreporter.write_sep("!", line, red=True, bold=True)
