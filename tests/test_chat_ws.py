"""Chat over real WebSockets, two nodes sharing Redis and the database: same order and seqs on
both, recovery of everything missed with `since`, and the errors of the rules on the wire."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from live.client import LiveClient, RequestFailed
from tests.support.communities import add_member, make_community, people
from tests.support.servers import run_server


async def _messages(client: LiveClient, room: str, n: int) -> list[dict[str, Any]]:
    return [await client.next_event("chat.message", room=room) for _ in range(n)]


async def test_two_nodes_same_order_and_recovery(make_settings: Any, redis_url: str, redis_prefix: str) -> None:
    cfg = make_settings(redis_url=redis_url, redis_prefix=redis_prefix, chat_burst=1000)
    async with run_server(cfg) as node_a, run_server(cfg) as node_b:
        async with people(node_a, "alice", "bob", "carol") as (alice, bob, carol):
            community = await make_community(alice)
            await add_member(alice, community, bob)
            await add_member(alice, community, carol)
            live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
            room = live["room"]
            b = await LiveClient.connect(node_a.ws_url, node_a.token(bob.id, "bob"))
            c = await LiveClient.connect(node_b.ws_url, node_b.token(carol.id, "carol"), encoding="msgpack")
            try:
                joined_b = await b.request("room.join", room=room)
                joined_c = await c.request("room.join", room=room)
                assert joined_b["epoch"] == joined_c["epoch"] and joined_b["seq"] == 0
                assert joined_b["history"] == []

                async def talk(client: LiveClient, who: str) -> list[dict[str, Any]]:
                    return [await client.request("chat.send", room=room, text=f"{who} {i}", nonce=f"{who}{i}")
                            for i in range(10)]

                oks = await asyncio.gather(talk(b, "bob"), talk(c, "carol"))
                assert sorted(o["seq"] for r in oks for o in r) == list(range(1, 21))
                seen_b = await _messages(b, room, 20)
                seen_c = await _messages(c, room, 20)
                assert [m["seq"] for m in seen_b] == list(range(1, 21))
                assert seen_b == seen_c  # same messages, same order, same seqs on both nodes

                # Bob leaves, misses 20 messages, comes back with `since`: all 20, recovered.
                epoch = joined_b["epoch"]
                await b.close()
                await talk(c, "more")
                await talk(c, "again")
                b = await LiveClient.connect(node_a.ws_url, node_a.token(bob.id, "bob"))
                back = await b.request("room.join", room=room, since={"epoch": epoch, "seq": 20})
                assert back["recovered"] is True and back["seq"] == 40
                assert [m["seq"] for m in back["history"]] == list(range(21, 41))
                stale = await b.request("room.join", room=room, since={"epoch": "gone", "seq": 3})
                assert stale["recovered"] is False
            finally:
                await b.close()
                await c.close()


async def test_rule_errors_on_the_wire(make_settings: Any) -> None:
    async with run_server(make_settings(chat_burst=3, chat_rate=0.5)) as server:
        async with people(server, "alice", "bob") as (alice, bob):
            community = await make_community(alice)
            await alice.ok("PATCH", f"/v1/communities/{community['id']}", json={"blocked_words": ["spam"]})
            await add_member(alice, community, bob)
            live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
            room = live["room"]
            client = await LiveClient.connect(server.ws_url, server.token(bob.id, "bob"))
            try:
                await client.request("room.join", room=room)
                cases = [("x" * 501, "message_too_long"), ("SPAM!", "blocked_word")]
                for text, code in cases:
                    with pytest.raises(RequestFailed) as err:
                        await client.request("chat.send", room=room, text=text, nonce=code)
                    assert err.value.reply["code"] == code
                for i in range(3):
                    await client.request("chat.send", room=room, text=f"m{i}", nonce=f"m{i}")
                with pytest.raises(RequestFailed) as err:
                    await client.request("chat.send", room=room, text="one too many", nonce="x")
                assert err.value.reply["code"] == "rate_limited" and err.value.reply["retry_after"] > 0
                first = await client.request("chat.send", room=room, text="m0 again", nonce="m0")
                assert first["seq"] == 1  # a retried nonce is answered from storage
            finally:
                await client.close()
