"""Join storms: reads shared by joins that arrive together (`live.coalesce`), with the same
decisions and states as one join at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from live.client import LiveClient, RequestFailed
from live.coalesce import Batcher, Coalescer
from tests.support.communities import add_member, ban, make_community, people
from tests.support.servers import RunningServer, uid
from tests.support.waiting import eventually

# -- the tools -----------------------------------------------------------------------------------


async def test_callers_gathered_before_a_read_starts_share_it() -> None:
    shared = Coalescer()
    reads: list[int] = []

    async def read() -> dict[str, int]:
        reads.append(1)
        n = len(reads)  # which read this is
        await asyncio.sleep(0.05)
        return {"n": n}

    first = await asyncio.gather(*(shared.run("k", read) for _ in range(20)))
    assert reads == [1] and all(r == {"n": 1} for r in first)
    # A caller arriving while a read is under way does not take that read: it gets the next one.
    under_way = asyncio.ensure_future(shared.run("k", read))
    await eventually(lambda: len(reads) == 2)  # its read is under way
    late = await shared.run("k", read)
    assert (await under_way) == {"n": 2} and late == {"n": 3}
    assert len(shared) == 0


async def test_a_failed_shared_read_fails_every_caller_and_the_next_one_reads_again() -> None:
    shared = Coalescer()
    calls = 0

    async def read() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return "ok"

    results = await asyncio.gather(*(shared.run("k", read) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and calls == 1
    assert await shared.run("k", read) == "ok"


async def test_the_batcher_reads_one_iterations_keys_in_one_call() -> None:
    calls: list[list[int]] = []

    async def read(keys: list[int]) -> dict[int, int]:
        calls.append(sorted(keys))
        return {k: k * 10 for k in keys if k != 3}

    batcher = Batcher(read, max_batch=4)
    got = await asyncio.gather(*(batcher.load(k) for k in [1, 2, 2, 3, 4, 5, 6]))
    assert got == [10, 20, 20, None, 40, 50, 60]  # a key the read did not answer is None
    assert calls == [[1, 2, 3, 4], [5, 6]]  # duplicates read once; at most max_batch per read


async def test_a_failed_batch_fails_its_callers_only() -> None:
    async def read(keys: list[str]) -> dict[str, str]:
        if "bad" in keys:
            raise ValueError("no")
        return {k: k for k in keys}

    batcher = Batcher(read)
    results = await asyncio.gather(batcher.load("a"), batcher.load("bad"), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert await batcher.load("a") == "a"


# -- join storms on a real server ---------------------------------------------------------------


async def _live(owner: Any, community: dict[str, Any]) -> str:
    live = await owner.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "storm"})
    return f"live:{live['id']}"


async def test_a_join_storm_gets_every_joiner_the_same_exact_state(server: RunningServer) -> None:
    async with people(server, "host") as (host,):
        community = await make_community(host)
        room = await _live(host, community)
        host_client = await LiveClient.connect(server.url, server.token(host.id, "Host"), "msgpack")
        try:
            await host_client.request("room.join", room=room)
            for i in range(3):
                await host_client.request("chat.send", room=room, text=f"before {i}")
            viewers = [await LiveClient.connect(server.url, server.token(uid("v"), "V"), "msgpack")
                       for _ in range(30)]
            try:
                # 30 joins in one burst while the host keeps chatting: every joiner gets the three
                # earlier messages as history or live, each exactly once, and all later ones live.
                joins = asyncio.gather(*(v.request("room.join", room=room) for v in viewers))
                sends = [await host_client.request("chat.send", room=room, text=f"during {i}") for i in range(3)]
                replies = await joins
                last = max(s["seq"] for s in sends)
                for viewer, reply in zip(viewers, replies, strict=True):
                    assert reply["state"]["host"]["id"] == host.id and reply["state"]["status"] == "live"
                    seen = [m["seq"] for m in reply["history"]]
                    while not seen or seen[-1] < last:
                        event = await viewer.next_event("chat.message", timeout=5)
                        seen.append(event["seq"])
                    assert seen == list(range(1, last + 1)), seen
            finally:
                for v in viewers:
                    await v.close()
        finally:
            await host_client.close()


async def test_a_batch_of_joins_still_refuses_each_one_that_must_be(server: RunningServer) -> None:
    async with people(server, "owner", "member", "banned") as (owner, member, banned):
        public = await make_community(owner)
        private = await make_community(owner, name="private", read_policy="members")
        for p in (member, banned):
            await add_member(owner, public, p)
        await ban(server, public["id"], banned.id)
        public_room, private_room = await _live(owner, public), await _live_of_other_host(server, owner, private)
        stranger = uid("s")
        tries = [("member", member.id, public_room), ("banned", banned.id, public_room),
                 ("stranger", stranger, private_room), ("reader", stranger, public_room)]
        clients = [await LiveClient.connect(server.url, server.token(who, name), "json") for name, who, _ in tries]
        try:
            # One burst over two communities: one batch of standings, each decided on its own.
            results = await asyncio.gather(*(c.request("room.join", room=room)
                                             for c, (_, _, room) in zip(clients, tries, strict=True)),
                                           return_exceptions=True)
            outcome = {name: r for (name, _, _), r in zip(tries, results, strict=True)}
            assert outcome["member"]["type"] == "ok" and outcome["reader"]["type"] == "ok"
            assert isinstance(outcome["banned"], RequestFailed) and outcome["banned"].code == "banned"
            assert isinstance(outcome["stranger"], RequestFailed) and outcome["stranger"].code == "not_found"
        finally:
            for c in clients:
                await c.close()


async def _live_of_other_host(server: RunningServer, owner: Any, community: dict[str, Any]) -> str:
    """A live in `community` by a second host (one live at a time per host)."""
    async with people(server, "host2") as (host2,):
        await add_member(owner, community, host2)
        return await _live(host2, community)


@pytest.mark.parametrize("n", [40])
async def test_a_connect_storm_of_new_users_creates_each_user_once(server: RunningServer, n: int) -> None:
    who = [uid("n") for _ in range(n)]
    clients = await asyncio.gather(*(LiveClient.connect(server.url, server.token(w, f"Name {w}"), "json")
                                     for w in who))
    try:
        for w in who[:3]:
            user = await server.services.users.get(w)
            assert user is not None and user.name == f"Name {w}"
        # A new name in a later token renames the user.
        renamed = await LiveClient.connect(server.url, server.token(who[0], "Renamed"), "json")
        await renamed.close()
        assert (await server.services.users.get(who[0])).name == "Renamed"
    finally:
        for c in clients:
            await c.close()
