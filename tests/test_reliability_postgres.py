"""PostgreSQL stopped (fast shutdown) for a few seconds under chat load, then started again.

A real `live serve` process on a private PostgreSQL cluster; members chat over WebSocket with
acknowledged sends while an HTTP client reads and writes. While the database is down:
`chat.send` is answered with the contract's `unavailable` (never another code, never a hang or a
closed socket), HTTP answers 503 `unavailable` (never a 500), `/readyz` says 503. When it is back the
node serves again by itself, within a second, with no restart; every message acknowledged before,
during or after is stored exactly once; and the node logged no traceback for the outage.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from live.storage import migrate
from tests.support import banner
from tests.support.chat_load import Chatter, check_nothing_lost, stored_chat
from tests.support.live_node import LiveNode, env_for
from tests.support.postgres_server import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

DOWN_SECONDS = 4.0
BACK_BOUND = 3.0  # seconds from PostgreSQL accepting again to the node serving writes again


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    why = PostgresServer.available()
    if why is not None:
        banner.say(f"No private PostgreSQL could be started ({why}): the PostgreSQL restart test was SKIPPED.")
        pytest.skip(why)
    server = PostgresServer().start()
    yield server
    server.cleanup()


async def test_postgres_restart_under_chat_load(private_postgres: PostgresServer, tmp_path: Path) -> None:
    pg = private_postgres
    await migrate.upgrade(pg.url)
    node = LiveNode(env_for(pg.url, tmp_path, LIVE_CHAT_RATE="50", LIVE_CHAT_BURST="100"), tmp_path, "pg")
    await node.start()
    names = ["host", "m1", "m2"]
    ids = {n: f"{n}-{tmp_path.name[-8:]}" for n in names}
    https = {n: node.client(ids[n], n) for n in names}
    try:
        community = (await https["host"].post("/v1/communities", json={"name": "pg", "join_policy": "open"})).json()
        cid = community["id"]
        for n in names[1:]:
            assert (await https[n].post(f"/v1/communities/{cid}/join")).status_code == 200
        resp = await https["host"].post(f"/v1/communities/{cid}/live", json={"title": "t"})
        assert resp.status_code == 201, resp.text
        live = resp.json()
        members = [Chatter(n, (lambda n=n: node.token(ids[n], n)), [node.url], live["room"], interval=0.05)
                   for n in names]
        for c in members:
            await c.join(0)

        # HTTP beside the chat: a read and a write (a post), every 50 ms; every answer recorded.
        http_log: list[tuple[float, str, int, str]] = []
        ready_log: list[tuple[float, int]] = []
        stop = asyncio.Event()

        async def http_load() -> None:
            i = 0
            while not stop.is_set():
                for what, call in (("read", https["m1"].get(f"/v1/communities/{cid}")),
                                   ("write", https["m2"].post(f"/v1/communities/{cid}/posts", json={"text": f"p{i}"}))):
                    try:
                        r = await call
                        code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
                        http_log.append((time.monotonic(), what, r.status_code, code))
                    except httpx.TimeoutException:
                        http_log.append((time.monotonic(), what, 0, "timeout"))
                try:
                    ready_log.append((time.monotonic(), (await https["m1"].get("/readyz")).status_code))
                except httpx.TimeoutException:
                    ready_log.append((time.monotonic(), 0))
                i += 1
                await asyncio.sleep(0.05)

        running = [asyncio.create_task(c.run(stop)) for c in members] + [asyncio.create_task(http_load())]
        await asyncio.sleep(1.5)
        acked_before = sum(len(c.acked) for c in members)
        assert acked_before > 10

        log_before = node.log.stat().st_size
        down_at = time.monotonic()
        await asyncio.to_thread(pg.stop)
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(pg.start)
        up_at = time.monotonic()
        # back by itself: each member's next acknowledged send, and a 2xx write over HTTP
        counts_at_up = {c.name: len(c.acked) for c in members}
        while time.monotonic() - up_at < 20:
            chat_back = all(len(c.acked) > counts_at_up[c.name] for c in members)
            http_back = any(t > up_at and what == "write" and status < 300 for t, what, status, _ in http_log)
            if chat_back and http_back:
                break
            await asyncio.sleep(0.02)
        back_after = time.monotonic() - up_at
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*running)

        # While down: only `unavailable` (503), never a 500, a timeout or a dropped socket.
        outage = [(what, status, code) for t, what, status, code in http_log if down_at < t < up_at]
        statuses = Counter((status, code) for _, status, code in outage)
        assert statuses[(503, "unavailable")] > 0, statuses
        assert set(statuses) <= {(503, "unavailable"), (200, ""), (201, "")}, statuses
        assert all(status < 500 or code == "unavailable" for _, _, status, code in http_log), Counter(
            (s, c) for _, _, s, c in http_log)
        refusals = sum((c.refusals for c in members), Counter())
        assert refusals["unavailable"] > 0, refusals
        assert set(refusals) <= {"unavailable"}, refusals
        assert all(c.cut_off == 0 and not c.recoveries for c in members), "no socket dropped"
        assert any(s == 503 for t, s in ready_log if down_at + 0.5 < t < up_at), "readyz said 503 while down"
        assert ready_log[-1][1] == 200
        assert back_after < BACK_BOUND, f"the node served again {back_after:.2f} s after PostgreSQL returned"

        stored = await stored_chat(https["m1"], live["id"])
        last = max(int(m["seq"]) for m in stored)
        for c in members:
            await c.catch_up(last)
        counts = check_nothing_lost(members, stored)
        assert counts["acked"] == counts["stored"], counts

        outage_log = node.log.read_bytes()[log_before:].decode(errors="replace")
        assert "Traceback" not in outage_log, outage_log[-4000:]
        print(f"\nPostgreSQL down {DOWN_SECONDS:g} s: HTTP during the outage {dict(statuses)}, chat refusals "
              f"{dict(refusals)}; back {back_after:.2f} s after PostgreSQL accepted again; "
              f"{counts['acked']} acked = {counts['stored']} stored; log lines during the outage: "
              f"{outage_log.count(chr(10))}")
        for c in members:
            await c.close()
    finally:
        for h in https.values():
            await h.aclose()
        node.stop()
