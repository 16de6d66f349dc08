"""The gateway's acceptance scenario, as a new user would try it: two real `live serve` processes
on different ports sharing Redis and PostgreSQL, clients on both."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from live.auth.tokens import mint
from live.client import LiveClient, RequestFailed
from tests.support.communities import Person, add_member, make_community
from tests.support.redis_server import free_port
from tests.support.servers import SECRET

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


class Node:
    """A `live serve` subprocess."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "live", "serve", "--port", str(self.port)],
            env={**env, "LIVE_PORT": str(self.port)}, stdout=self._out, stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"live serve exited: {self.log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + "/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("live serve did not become ready")

    def token(self, user_id: str, name: str | None = None, ttl: int = 3600) -> str:
        return mint(SECRET, user_id, name=name, ttl=ttl)

    def client(self, user_id: str | None = None, name: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token(user_id, name)}"} if user_id else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._out.close()


@pytest.fixture
def node_env(postgres_url: str | None, redis_url: str, redis_prefix: str) -> Iterator[dict[str, str]]:
    if postgres_url is None:
        pytest.skip("PostgreSQL is not reachable (see the banner at the end of the run)")
    var = tempfile.mkdtemp(prefix="live-nodes-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
    env.update(LIVE_SECRET=SECRET, LIVE_DATABASE_URL=postgres_url, LIVE_REDIS_URL=redis_url,
               LIVE_REDIS_PREFIX=redis_prefix, LIVE_VAR_DIR=var, LIVE_LOG_LEVEL="INFO")
    yield env


@contextlib.asynccontextmanager
async def nodes(env: dict[str, str], n: int) -> AsyncIterator[list[Node]]:
    started = [Node(env, Path(env["LIVE_VAR_DIR"]) / f"node{i}.log") for i in range(n)]
    try:
        await asyncio.gather(*(node.ready() for node in started))
        yield started
    finally:
        for node in started:
            node.stop()


async def say(client: LiveClient, room: str, text: str, nonce: str) -> dict[str, Any]:
    """chat.send, waiting out the per-user rate limit as a client should (`retry_after`)."""
    while True:
        try:
            return await client.request("chat.send", room=room, text=text, nonce=nonce)
        except RequestFailed as exc:
            if exc.code != "rate_limited":
                raise
            await asyncio.sleep(float(exc.retry_after or 0.2))


async def ws(node: Node, person: Person, **kw: Any) -> LiveClient:
    return await LiveClient.connect(node.url, node.token(person.id, person.name, **kw))


async def test_acceptance_two_processes(node_env: dict[str, str]) -> None:
    async with nodes(node_env, 2) as (a, b):
        alice, bob, carol, mod = (Person(a, n) for n in ("alice", "bob", "carol", "mod"))  # type: ignore[arg-type]
        try:
            community = await make_community(alice)
            cid = community["id"]
            for p in (bob, carol):
                await add_member(alice, community, p)
            await add_member(alice, community, mod, "moderator")

            # bob, watching the community, gets live.started when alice goes live
            bob_a = await ws(a, bob)
            await bob_a.request("room.join", room=f"community:{cid}")
            live = await alice.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "launch"})
            room = live["room"]
            assert (await bob_a.next_event("live.started"))["live"]["id"] == live["id"]

            # bob joins on node A, carol on node B; same messages, same order, same seq
            carol_b = await ws(b, carol)
            joined = await bob_a.request("room.join", room=room)
            await carol_b.request("room.join", room=room)
            for i in range(8):
                sender = bob_a if i % 2 == 0 else carol_b
                await say(sender, room, f"hello {i}", f"h{i}")
            on_a = [await bob_a.next_event("chat.message") for _ in range(8)]
            on_b = [await carol_b.next_event("chat.message") for _ in range(8)]
            assert [(m["seq"], m["id"], m["text"]) for m in on_a] == [(m["seq"], m["id"], m["text"]) for m in on_b]
            assert [m["seq"] for m in on_a] == list(range(1, 9))

            # the live tab shows 2 viewers (counted across both processes)
            deadline = time.monotonic() + 8
            count = None
            while time.monotonic() < deadline:
                tab = await bob.ok("GET", f"/v1/communities/{cid}/live")
                count = tab["items"][0]["viewer_count"]
                if count == 2:
                    break
                await asyncio.sleep(0.3)
            assert count == 2

            # bob drops, misses 20 messages, comes back with `since`: all 20, recovered
            last = on_a[-1]
            await bob_a.close()
            missed = [await say(carol_b, room, f"while away {i}", f"w{i}") for i in range(20)]
            bob_again = await ws(a, bob)
            back = await bob_again.request("room.join", room=room,
                                           since={"epoch": joined["epoch"], "seq": last["seq"]})
            assert back["recovered"] is True
            assert [m["seq"] for m in back["history"]] == [r["seq"] for r in missed]
            assert [m["text"] for m in back["history"]] == [f"while away {i}" for i in range(20)]

            # a moderator bans carol: 4003 on node B, a notice, a refused rejoin, a log entry
            await mod.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                         json={"action": "ban", "user_id": carol.id, "reason": "spamming links"})
            notice = await carol_b.next_event("moderation.notice")
            assert notice["community_id"] == cid and notice["action"] == "ban"
            assert notice["reason"] == "spamming links"
            assert await carol_b.wait_closed() == 4003
            fresh = await ws(b, carol, ttl=300)
            with pytest.raises(RequestFailed) as caught:
                await fresh.request("room.join", room=room)
            assert caught.value.code == "banned"
            await fresh.close()
            entries = (await bob.ok("GET", f"/v1/communities/{cid}/moderation/log"))["items"]
            assert any(e["action"] == "ban" and e["reason"] == "spamming links" for e in entries)
            await bob_again.close()
        finally:
            for p in (alice, bob, carol, mod):
                await p.http.aclose()
