"""The load generator keeps its lives' hosts in their rooms for a run: `live` ends a live whose
host is not there for LIVE_GRACE_SECONDS, and a load test's hosts would otherwise never connect.
The server's grace periods run on a manual clock, so the test sees the timers, not the time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.clock import ManualClock, until
from tests.support.servers import SECRET, RunningServer, run_server, settings
from tests.test_loadtest import FAST, _exact_delivery, _load, loadtest


@pytest.fixture
async def live_server(sqlite_url: str) -> AsyncIterator[tuple[RunningServer, ManualClock]]:
    cfg = settings(database_url=sqlite_url, chat_rate=1000.0, chat_burst=1000)
    async with run_server(cfg) as running:
        clock = ManualClock()
        running.services.lives.grace.sleep = clock.sleep
        yield running, clock


async def test_a_run_on_existing_lives_hosts_them(
    live_server: tuple[RunningServer, ManualClock], tmp_path: Path
) -> None:
    server, clock = live_server
    lives = server.services.lives
    code, stdout, err = await loadtest("chat", "--url", server.url, "--secret", SECRET, "--rooms", "1",
                                       "--setup-only", "--quiet")
    assert code == 0, err
    options = stdout.split()  # --community CID --room live:LID
    lid = options[3].removeprefix("live:")
    timer = f"live-grace-{lid}"
    await until(lambda: clock.asleep(timer))  # started without its host

    out = tmp_path / "run.json"
    code, _, err = await loadtest("chat", "--url", server.url, "--secret", SECRET, *options,
                                  "--members", "4", "--senders", "1", "--rate", "4", "--duration", "1",
                                  "--out", str(out), *FAST)
    assert code == 0, err
    _exact_delivery(_load(out), members=4)
    # The host came (the start's timer was cancelled) and left with the run (a new timer).
    await until(lambda: clock.started[timer] == 2 and clock.asleep(timer))
    assert lid in lives.grace
    info = await lives.room_info(lid)
    assert info.status == "live"
    clock.advance(server.settings.live_grace_seconds)
    await until(lambda: lid not in lives.grace)
    assert (await lives.room_info(lid)).status == "ended"
