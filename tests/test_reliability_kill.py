"""Two real `live serve` nodes on PostgreSQL and a private Redis; a live's members all chat through
node A; node A is killed with SIGKILL mid-chat. Each member reconnects to node B by itself, rejoins
with `since`, and gets what it missed (`recovered: true`) within 5 s; every message the server
acknowledged is stored exactly once and seen exactly once by every member (a send cut off by the
kill is sent again with its nonce and stored once). A watcher on node B sees the whole chat without a
gap. Node A then starts again on the same port and serves the same history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.chat_load import Chatter, check_nothing_lost, stored_chat
from tests.support.live_node import LiveNode, alive, children_of, env_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]

RECOVERY_BOUND = 5.0  # seconds from the kill to every member rejoined on the other node, recovered


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.cleanup()


async def test_kill_9_the_node_the_room_is_on(postgres_url: str | None, private_redis: RedisServer,
                                              tmp_path: Path) -> None:
    if postgres_url is None:
        pytest.skip("PostgreSQL is not reachable (see the banner at the end of the run)")
    env = env_for(postgres_url, tmp_path, private_redis.url, LIVE_REDIS_PREFIX=f"k{tmp_path.name[-6:]}:",
                  LIVE_CHAT_RATE="50", LIVE_CHAT_BURST="100")
    a, b = LiveNode(env, tmp_path, "a"), LiveNode(env, tmp_path, "b")
    try:
        await asyncio.gather(a.start(), b.start())
        names = ["host", "m1", "m2", "m3"]
        ids = {n: f"{n}-{tmp_path.name[-8:]}" for n in [*names, "watcher"]}
        https = {n: a.client(ids[n], n) for n in ids}
        try:
            body = {"name": "kill", "join_policy": "open"}
            community = (await https["host"].post("/v1/communities", json=body)).json()
            for n in [*names[1:], "watcher"]:
                assert (await https[n].post(f"/v1/communities/{community['id']}/join")).status_code == 200
            resp = await https["host"].post(f"/v1/communities/{community['id']}/live", json={"title": "t"})
            assert resp.status_code == 201, resp.text
            live = resp.json()
            room = live["room"]

            def token_of(n: str) -> Callable[[], str]:
                return lambda: a.token(ids[n], n)

            members = [Chatter(n, token_of(n), [a.url, b.url], room, interval=0.1,
                               encoding="msgpack" if i % 2 else "json") for i, n in enumerate(names)]
            watcher = Chatter("watcher", token_of("watcher"), [b.url, a.url], room, sending=False)
            for c in members:
                await c.join(0)
            await watcher.join(0)
            stop = asyncio.Event()
            running = [asyncio.create_task(c.run(stop)) for c in [*members, watcher]]
            await asyncio.sleep(2.0)
            before = sum(len(c.acked) for c in members)
            assert before > 20, "the members were chatting before the kill"
            media_children = children_of(a.pid)
            killed = time.monotonic()
            a.kill9()
            # Every member notices, reconnects to B and rejoins with `since`.
            while (any(c.joined_at is None or c.joined_at < killed for c in members)
                   and time.monotonic() - killed < 20):
                await asyncio.sleep(0.02)
            recovery = max((c.joined_at or float("inf")) - killed for c in members)
            await asyncio.sleep(2.0)  # chatting on B for a while
            stop.set()
            await asyncio.gather(*running)
            assert all(c.at == 1 for c in members), "every member moved to node B"
            assert watcher.at == 0 and not watcher.recoveries, "the watcher on B was never cut off"
        finally:
            for h in https.values():
                await h.aclose()
        async with b.client(ids["watcher"], "watcher") as http:
            stored = await stored_chat(http, live["id"])
        last = max(int(m["seq"]) for m in stored)
        for c in [*members, watcher]:
            await c.catch_up(last)
        counts = check_nothing_lost([*members, watcher], stored)
        assert all(c.unrecovered == 0 for c in members), "every rejoin recovered with `since`"
        assert recovery < RECOVERY_BOUND, f"members were back after {recovery:.2f} s"
        assert counts["acked"] == counts["stored"], counts  # every stored message was acknowledged once
        print(f"\nkill -9: {len(members)} members back on node B, recovered, after {recovery:.2f} s "
              f"(per member: {', '.join(f'{r:.2f}' for c in members for r in c.recoveries)}); "
              f"{counts['acked']} acked, {counts['stored']} stored, "
              f"{sum(c.cut_off for c in members)} sends cut off by the kill and sent again")
        # A's media processes (if it had started any) went with it.
        deadline = time.monotonic() + 10
        while any(alive(p) for p in media_children) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not any(alive(p) for p in media_children), "a media process outlived its killed node"

        # A starts again on the same port: the same history, from both nodes.
        await a.start()
        async with a.client(ids["m1"], "m1") as http:
            assert [m["id"] for m in await stored_chat(http, live["id"])] == [m["id"] for m in stored]
        for c in [*members, watcher]:
            await c.close()
    finally:
        a.stop()
        b.stop()
