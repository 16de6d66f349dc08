"""Two app nodes sharing Redis and PostgreSQL, clients on both; and a Redis restart mid-chat."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from live.client import LiveClient
from tests.support.communities import Person, add_member, make_community, people
from tests.support.redis_server import RedisServer
from tests.support.servers import RunningServer, run_server, settings
from tests.support.waiting import eventually, poll

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@contextlib.asynccontextmanager
async def two_nodes(postgres_url: str | None, redis_url: str, prefix: str,
                    **overrides: Any) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    if postgres_url is None:
        pytest.skip("PostgreSQL is not reachable (see the banner at the end of the run)")
    cfg = settings(database_url=postgres_url, redis_url=redis_url, redis_prefix=prefix, **overrides)
    async with run_server(cfg) as a, run_server(cfg) as b:
        yield a, b


async def connect(node: RunningServer, person: Person, encoding: str = "json") -> LiveClient:
    return await LiveClient.connect(node.url, node.token(person.id, person.name), encoding)


async def test_two_nodes_one_room(postgres_url: str | None, redis_url: str, redis_prefix: str) -> None:
    async with two_nodes(postgres_url, redis_url, redis_prefix) as (a, b):
        async with people(a, "alice", "bob", "carol", "mod") as (alice, bob, carol, mod):
            community = await make_community(alice)
            cid = community["id"]
            for p in (bob, carol):
                await add_member(alice, community, p)
            await add_member(alice, community, mod, "moderator")
            c_bob = await connect(a, bob)
            c_carol = await connect(b, carol, "msgpack")
            await c_carol.request("room.join", room=f"community:{cid}")
            live = (await alice.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "t"}))
            room = live["room"]
            assert (await c_carol.next_event("live.started"))["live"]["id"] == live["id"]  # made on A
            await c_bob.request("room.join", room=room)
            await c_carol.request("room.join", room=room)
            for i in range(10):
                who = c_bob if i % 3 else c_carol
                await who.request("chat.send", room=room, text=f"t{i}", nonce=f"n{i}")
            got_bob = [await c_bob.next_event("chat.message") for _ in range(10)]
            got_carol = [await c_carol.next_event("chat.message") for _ in range(10)]
            assert [(m["seq"], m["text"]) for m in got_bob] == [(m["seq"], m["text"]) for m in got_carol]
            assert [m["seq"] for m in got_bob] == list(range(1, 11))
            # viewers are counted across nodes
            await poll(lambda: a.services.presence.count(room) == 2 == b.services.presence.count(room), 6)
            assert a.services.presence.count(room) == 2
            tab = await bob.ok("GET", f"/v1/communities/{cid}/live")
            assert tab["items"][0]["viewer_count"] == 2
            # the host connected on B is seen from A
            host = await connect(b, alice)
            await host.request("room.join", room=room)
            await eventually(lambda: a.services.presence.user_count(room, alice.id), 10, what="the host seen from A")
            assert await a.services.presence.user_count(room, alice.id) == 1
            await host.close()
            # reactions from both nodes add up
            await c_bob.request("reaction.send", room=room, kind="heart")
            await c_carol.request("reaction.send", room=room, kind="heart")
            total = 0
            while total < 2:
                total += (await c_bob.next_event("reactions", timeout=5))["counts"].get("heart", 0)
            assert total == 2
            # send_user reaches every connection of a user on every node
            bob_on_b = await connect(b, bob)
            await a.services.gateway.send_user(bob.id, {"type": "x.direct", "n": 7})
            assert (await c_bob.next_event("x.direct"))["n"] == 7
            assert (await bob_on_b.next_event("x.direct"))["n"] == 7
            await bob_on_b.close()
            # a mute made through node A holds at once for bob's chat through node B
            bob_b = await connect(b, bob)
            await bob_b.request("room.join", room=room)
            await bob_b.request("chat.send", room=room, text="before", nonce="before")
            await mod.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                         json={"action": "mute", "user_id": bob.id, "reason": "shh", "duration_seconds": 60})
            assert (await bob_b.next_event("moderation.notice"))["action"] == "mute"
            with pytest.raises(Exception) as caught:
                await bob_b.request("chat.send", room=room, text="after", nonce="after")
            assert getattr(caught.value, "code", None) == "muted"
            assert getattr(caught.value, "until", None)
            await bob_b.close()
            # a ban made through node A closes carol's socket on node B
            await mod.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                         json={"action": "ban", "user_id": carol.id, "reason": "rude"})
            notice = await c_carol.next_event("moderation.notice")
            assert (notice["action"], notice["reason"]) == ("ban", "rude")
            assert await c_carol.wait_closed() == 4003
            fresh = await LiveClient.connect(b.url, b.token(carol.id, "carol", ttl=60))
            with pytest.raises(Exception) as caught:
                await fresh.request("room.join", room=room)
            assert getattr(caught.value, "code", None) == "banned"
            await fresh.close()
            # node B has nobody in the room now; asked (the live tab), it still counts A's viewer
            pb = b.services.presence
            await poll(lambda: pb.count(room) == 1, 6)
            assert pb.count(room) == 1 and pb.local_count(room) == 0
            await c_bob.close()


async def test_redis_restart_in_a_chatty_room_loses_no_acked_message(
    postgres_url: str | None, redis_server: RedisServer, redis_prefix: str
) -> None:
    async with two_nodes(postgres_url, redis_server.url, redis_prefix) as (a, b):
        async with people(a, "host", "talker", "watcher") as (host, talker, watcher):
            community = await make_community(host)
            await add_member(host, community, talker)
            live = await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
            room = live["room"]
            c_talk = await connect(a, talker)
            c_watch = await connect(b, watcher)
            await c_talk.request("room.join", room=room)
            await c_watch.request("room.join", room=room)
            acked: list[int] = []
            failed = 0

            async def talk() -> None:
                nonlocal failed
                for i in range(40):  # 5 a second for 8 s
                    try:
                        reply = await c_talk.request("chat.send", room=room, text=f"x{i}", nonce=f"x{i}",
                                                     timeout=15)
                        acked.append(reply["seq"])
                    except Exception:  # noqa: BLE001 - refused while Redis is down: not acked
                        failed += 1
                    await asyncio.sleep(0.2)  # the pace under test: a chatty room, 5 a second

            talking = asyncio.create_task(talk())
            await eventually(lambda: len(acked) >= 10, 20, what="a chatty room before the restart")
            await asyncio.to_thread(redis_server.restart, 1.0)
            await talking
            assert len(acked) >= 20
            seen: list[int] = []
            deadline = time.monotonic() + 20
            while not set(acked) <= set(seen) and time.monotonic() < deadline:
                try:
                    event = await c_watch.next_event(timeout=1)
                except TimeoutError:
                    continue
                if event["type"] == "chat.message":
                    seen.append(event["seq"])
            missing = sorted(set(acked) - set(seen))
            assert not missing, f"acked but never delivered: {missing}"
            assert seen == sorted(seen) and len(seen) == len(set(seen))  # in order, no duplicates
            await c_talk.close()
            await c_watch.close()
