"""Nothing is lost when a node dies between storing a notification and sending it.

A real `live serve` process sends webhooks to a receiver and pushes to a push service that both
take the requests and never answer; the process is killed with SIGKILL while they hang, then a
new process starts on the same database. Every webhook event and every push arrives, each
accepted exactly once by id. A second test interrupts a fan-out between two batches (the task
dies after its first commit) and checks that the node taking over gives every recipient exactly
one inbox row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from live.auth.tokens import mint
from live.clock import ManualClock
from live.notifications import fanout, kinds
from live.notifications.outbox import Sender
from tests.support.communities import Person, make_community
from tests.support.receivers import push_service, until, webhook_receiver
from tests.support.redis_server import free_port
from tests.support.servers import SECRET, RunningServer

HOOK_SECRET = "hook-" + "k" * 30
pytestmark = pytest.mark.timeout(240)


class Node:
    """`live serve` as its own process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "live", "serve", "--dev", "--port", str(self.port)],
            env=env, stdout=self._out, stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"live serve exited: {self.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + "/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("live serve did not become ready")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


class Caller:
    def __init__(self, node: Node, name: str) -> None:
        self.id = f"{name}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        self.http = httpx.AsyncClient(base_url=node.url, timeout=30,
                                      headers={"Authorization": f"Bearer {mint(SECRET, self.id, name=name)}"})

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.http.request(method, path, **kw)
        assert r.status_code == expect, r.text
        return r.json() if r.content else None


def outbox(db: Path) -> list[tuple[str, dict[str, Any]]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [(kind, json.loads(payload)) for kind, payload in conn.execute("SELECT kind, payload FROM outbox")]


async def test_kill_9_between_storing_and_sending(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    async with push_service() as push, webhook_receiver(HOOK_SECRET) as (hooks, hook_url):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
        env.update(LIVE_SECRET=SECRET, LIVE_DATABASE_URL=f"sqlite+aiosqlite:///{db}", LIVE_VAR_DIR=str(tmp_path),
                   LIVE_WEBHOOK_URLS=hook_url, LIVE_WEBHOOK_SECRET=HOOK_SECRET, LIVE_MEDIA_PROCESSES="1",
                   LIVE_PUSH_INSECURE_HOSTS=push.url.removeprefix("http://"), LIVE_DELIVERY_TIMEOUT_SECONDS="120",
                   LIVE_RECORDING="0", LIVE_HLS="0")
        hooks.mode, push.hang = "hang", True  # everything sent from now on hangs
        first = Node(env, tmp_path / "node1.log")
        try:
            await first.ready()
            alice, bob = Caller(first, "alice"), Caller(first, "bob")
            c = await alice.ok("POST", "/v1/communities", 201, json={"name": "K", "join_policy": "open"})
            await bob.ok("POST", f"/v1/communities/{c['id']}/join")
            browser = push.subscription()
            await bob.ok("POST", "/v1/me/push-subscriptions", 201, json=browser.subscription())
            for i in range(3):
                await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201, json={"text": f"a{i}"})
            live = await alice.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
            await alice.ok("POST", f"/v1/live/{live['id']}/end")

            # Stored: every fan-out expanded into inbox rows, pushes and webhooks, now hanging.
            def expanded() -> bool:
                rows = outbox(db)
                return not any(k == "fanout" for k, _ in rows) and sum(k == "push" for k, _ in rows) == 4
            await until(expanded, 60)
            rows = outbox(db)
            hook_ids = {p["id"] for k, p in rows if k == "webhook"}
            push_ids = {p["notification"]["id"] for k, p in rows if k == "push"}
            # member.joined, notification.created (3 announcements and the live), live.started, live.ended
            assert len(push_ids) == 4 and len(hook_ids) == 1 + 4 + 1 + 1
            await until(lambda: hooks.held > 0 and push.held > 0, 60)  # sending, not answered
            inbox_before = await bob.ok("GET", "/v1/me/notifications")
            first.kill()
        finally:
            first.stop()
        for c_ in (alice, bob):
            await c_.http.aclose()

        hooks.mode, push.hang = "up", False
        hooks.release.set()
        push.release.set()
        second = Node(env, tmp_path / "node2.log")
        try:
            await second.ready()
            await until(lambda: hooks.delivered >= hook_ids, 90)
            await until(lambda: {p["id"] for p in push.payloads(browser.token)} >= push_ids, 90)
            assert hooks.delivered == hook_ids  # at least once, and nothing else
            assert all(n == 1 for n in hooks.ok_counts.values())  # exactly once by id
            counts = Counter(p["id"] for p in push.payloads(browser.token))
            assert set(counts) == push_ids and all(n == 1 for n in counts.values())
            bob2 = Caller(second, "bob")
            bob2.id = bob.id
            bob2.http.headers["Authorization"] = f"Bearer {mint(SECRET, bob.id, name='bob')}"
            after = await bob2.ok("GET", "/v1/me/notifications")
            assert [n["id"] for n in after["items"]] == [n["id"] for n in inbox_before["items"]]
            assert {n["id"] for n in after["items"]} == push_ids
            await bob2.http.aclose()
            assert outbox(db) == []
        finally:
            second.stop()


async def test_a_fan_out_interrupted_between_batches_is_finished_once(server: RunningServer) -> None:
    clock = ManualClock()
    server.services.clock = clock
    owner = Person(server, "owner")
    c = await make_community(owner)
    members = [Person(server, f"m{i}") for i in range(7)]
    for m in members:
        await m.ok("POST", f"/v1/communities/{c['id']}/join")
    notifier = server.services.notifications
    await notifier.sender.stop()  # this test drives the outbox by hand

    async with server.services.db.session() as session:
        nid = notifier.queue(session, kinds.Draft(kinds.ANNOUNCEMENT, "t", "b", "#/"),
                             fanout.Audience(community_id=c["id"], members=True, exclude=(owner.id,)))
    dying = Sender(server.services.db, lambda: clock, "dying-node", {})
    [item] = [i for i in await dying.claim() if i.id == nid]

    async def crash(notification: dict[str, Any], users: list[str]) -> None:
        raise asyncio.CancelledError  # the node dies right after committing its first batch
    expander = fanout.Expander(lambda: dying, (), crash, batch=3)
    with pytest.raises(asyncio.CancelledError):
        await expander(item)

    async def inbox_ids(p: Person) -> list[str]:
        return [n["id"] for n in (await p.ok("GET", "/v1/me/notifications"))["items"]]
    done = [m for m in members if await inbox_ids(m) == [nid]]
    assert len(done) == 3  # the first batch committed, with its cursor

    taker = Sender(server.services.db, lambda: clock, "taking-over", {})
    assert [i.id for i in await taker.claim()] == []  # the dying node's lease still holds
    clock.advance(dying.lease.total_seconds() + 1)
    [again] = [i for i in await taker.claim() if i.id == nid]
    assert again.payload["cursor"] == sorted(m.id for m in members)[2]
    published: list[list[str]] = []

    async def publish(notification: dict[str, Any], users: list[str]) -> None:
        published.append(users)
    result = await fanout.Expander(lambda: taker, (), publish, batch=3)(again)
    await taker.finish(again, result)
    # The rest, not the first batch again.
    assert [u for batch in published for u in batch] == sorted(m.id for m in members)[3:]
    for m in members:
        assert await inbox_ids(m) == [nid]
    for p in (owner, *members):
        await p.http.aclose()
