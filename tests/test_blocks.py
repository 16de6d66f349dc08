"""Blocking, against real servers: the API, and every path by which someone's words reach someone.

What a blocked user writes must not reach the person who blocked them: posts, comments and the
original of a share (lists and by id), chat history over HTTP, a room's join history, recovery
with `since`, and live `chat.message` fan-out, on one node and across two nodes (the block made
on one, the blocker connected to the other). Neither may invite the other (community invites and
the stage answer `blocked`), and the blocked user is never told (their export does not show it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from live.client import LiveClient, RequestFailed
from live.config import Settings
from live.signaling.connection import Connection
from tests.support.communities import Person, add_member, error_of, make_community, people
from tests.support.servers import RunningServer, run_server, settings
from tests.support.waiting import eventually


async def test_block_list_unblock_and_errors(server: RunningServer) -> None:
    async with people(server, "ana", "bo", "cy") as (ana, bo, cy):
        await bo.ok("GET", "/v1/me")
        await cy.ok("GET", "/v1/me")
        first = await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": bo.id})
        assert first["user_id"] == bo.id and first["user"] == {"id": bo.id, "name": "bo"} and first["created_at"]
        again = await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": bo.id})
        assert again == first  # idempotent
        await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": cy.id})
        listed = await ana.ok("GET", "/v1/me/blocks?limit=1")
        assert [i["user_id"] for i in listed["items"]] == [cy.id] and listed["next_cursor"]
        rest = await ana.ok("GET", f"/v1/me/blocks?limit=1&cursor={listed['next_cursor']}")
        assert [i["user_id"] for i in rest["items"]] == [bo.id] and rest["next_cursor"] is None
        await ana.ok("DELETE", f"/v1/me/blocks/{cy.id}", 204)
        await ana.ok("DELETE", f"/v1/me/blocks/{cy.id}", 204)  # unblocking twice changes nothing
        assert [i["user_id"] for i in (await ana.ok("GET", "/v1/me/blocks"))["items"]] == [bo.id]

        error_of(await ana.call("POST", "/v1/me/blocks", json={"user_id": ana.id}), 422, "invalid_request")
        error_of(await ana.call("POST", "/v1/me/blocks", json={"user_id": "nobody-here"}), 404, "not_found")
        error_of(await ana.call("POST", "/v1/me/blocks", json={"user_id": ""}), 422, "invalid_request")
        error_of(await ana.call("POST", "/v1/me/blocks", json={"user_id": 7}), 422, "invalid_request")
        error_of(await ana.call("GET", "/v1/me/blocks?cursor=bogus"), 422, "invalid_request")
        async with server.client() as anonymous:
            error_of(await anonymous.post("/v1/me/blocks", json={"user_id": bo.id}), 401, "unauthorized")

        # The blocked user is not told: nothing in their own data says who blocked them.
        export = await bo.ok("GET", "/v1/me/export")
        assert ana.id not in str(export)
        mine = await ana.ok("GET", "/v1/me/export")
        assert [r["blocked_id"] for r in mine["tables"]["blocks"]] == [bo.id]


async def test_posts_comments_and_shares_of_a_blocked_author_are_not_listed(server: RunningServer) -> None:
    async with people(server, "owner", "ana", "troll", "cy") as (owner, ana, troll, cy):
        community = await make_community(owner)
        cid = community["id"]
        for p in (ana, troll, cy):
            await add_member(owner, community, p)
        by_troll = await troll.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "nasty"})
        by_cy = await cy.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "kind"})
        await troll.ok("POST", f"/v1/posts/{by_cy['id']}/comments", 201, json={"text": "nasty reply"})
        await cy.ok("POST", f"/v1/posts/{by_cy['id']}/comments", 201, json={"text": "thanks"})
        shared = await cy.ok("POST", f"/v1/posts/{by_troll['id']}/share", 201, json={})
        await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": troll.id})

        listed = await ana.ok("GET", f"/v1/communities/{cid}/posts")
        assert {p["id"] for p in listed["items"]} == {by_cy["id"], shared["id"]}
        share_seen = next(p for p in listed["items"] if p["id"] == shared["id"])
        assert share_seen["original"] is None  # as if the original were gone
        error_of(await ana.call("GET", f"/v1/posts/{by_troll['id']}"), 404, "not_found")
        comments = await ana.ok("GET", f"/v1/posts/{by_cy['id']}/comments")
        assert [c["text"] for c in comments["items"]] == ["thanks"]

        # Everyone else, the blocked user included, still sees it all.
        assert len((await cy.ok("GET", f"/v1/communities/{cid}/posts"))["items"]) == 3
        assert len((await troll.ok("GET", f"/v1/posts/{by_cy['id']}/comments"))["items"]) == 2
        assert (await cy.ok("GET", f"/v1/posts/{shared['id']}"))["original"]["id"] == by_troll["id"]
        # Unblocking brings it back.
        await ana.ok("DELETE", f"/v1/me/blocks/{troll.id}", 204)
        assert len((await ana.ok("GET", f"/v1/communities/{cid}/posts"))["items"]) == 3


async def test_invites_between_blocked_people_are_refused_both_ways(server: RunningServer) -> None:
    async with people(server, "owner", "ana", "troll") as (owner, ana, troll):
        community = await make_community(owner, join_policy="invite")
        cid = community["id"]
        await add_member(owner, community, troll)
        await ana.ok("GET", "/v1/me")
        code = (await troll.ok("POST", f"/v1/communities/{cid}/invites", 201, json={}))["code"]
        # The one blocked invites the one who blocked them...
        await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": troll.id})
        error_of(await ana.call("POST", f"/v1/invites/{code}/accept"), 403, "blocked")
        await ana.ok("DELETE", f"/v1/me/blocks/{troll.id}", 204)
        # ...and the other way round: the inviter blocked the invitee.
        await troll.ok("POST", "/v1/me/blocks", 201, json={"user_id": ana.id})
        error_of(await ana.call("POST", f"/v1/invites/{code}/accept"), 403, "blocked")
        invites = await troll.ok("GET", f"/v1/communities/{cid}/invites")
        assert invites["items"][0]["used_by"] is None  # refused: the invite is still unused
        await troll.ok("DELETE", f"/v1/me/blocks/{ana.id}", 204)
        await ana.ok("POST", f"/v1/invites/{code}/accept")


async def test_stage_invites_and_requests_between_blocked_people_are_refused(server: RunningServer) -> None:
    async with people(server, "host", "ana", "cy") as (host, ana, cy):
        community = await make_community(host)
        await add_member(host, community, ana)
        await add_member(host, community, cy)
        live = await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
        room = live["room"]
        c_host = await LiveClient.connect(server.ws_url, server.token(host.id, "host"))
        c_ana = await LiveClient.connect(server.ws_url, server.token(ana.id, "ana"))
        try:
            await c_host.request("room.join", room=room)
            await c_ana.request("room.join", room=room)
            await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": host.id})
            with pytest.raises(RequestFailed) as err:
                await c_host.request("stage.invite", room=room, user_id=ana.id)
            assert err.value.code == "blocked"
            await ana.ok("DELETE", f"/v1/me/blocks/{host.id}", 204)
            await host.ok("POST", "/v1/me/blocks", 201, json={"user_id": ana.id})
            with pytest.raises(RequestFailed) as err:
                await c_ana.request("stage.request", room=room)
            assert err.value.code == "blocked"
            with pytest.raises(RequestFailed) as err:
                await c_host.request("stage.invite", room=room, user_id=ana.id)
            assert err.value.code == "blocked"
            # Others are unaffected.
            stage = (await c_host.request("stage.invite", room=room, user_id=cy.id))["stage"]
            assert {"user_id": cy.id, "role": "invited"} in stage
        finally:
            await c_host.close()
            await c_ana.close()


# -- chat, on one node and on two ----------------------------------------------------------------

TOPOLOGIES = ["one node", pytest.param("two nodes", marks=[pytest.mark.redis, pytest.mark.postgres])]


@pytest.fixture(params=TOPOLOGIES)
def topology(request: pytest.FixtureRequest) -> tuple[str, Settings]:
    """One node on SQLite with the in-process bus, or two nodes on PostgreSQL sharing Redis."""
    if request.param == "one node":
        return request.param, settings(database_url=request.getfixturevalue("sqlite_url"))
    postgres_url = request.getfixturevalue("postgres_url")
    if postgres_url is None:
        pytest.skip("PostgreSQL is not reachable (see the banner at the end of the run)")
    return request.param, settings(database_url=postgres_url, redis_url=request.getfixturevalue("redis_url"),
                                   redis_prefix=request.getfixturevalue("redis_prefix"))


@contextlib.asynccontextmanager
async def nodes(topology: tuple[str, Settings]) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    kind, cfg = topology
    if kind == "one node":
        async with run_server(cfg) as node:
            yield node, node
        return
    async with run_server(cfg) as a, run_server(cfg) as b:
        yield a, b


async def blocks_known(node: RunningServer, user_id: str, blocked: frozenset[str]) -> None:
    """Wait until every connection of `user_id` on `node` filters exactly `blocked`."""
    gateway = node.services.gateway

    def ready() -> bool:
        conns = [c for c in gateway.hub.users.get(user_id, ()) if isinstance(c, Connection)]
        return bool(conns) and all(c.blocked == blocked for c in conns)

    await eventually(ready, what=f"{user_id}'s connections filtering {sorted(blocked)}")


async def texts_until(client: LiveClient, last: str) -> list[str]:
    """The texts of the chat messages received until the one saying `last`."""
    seen = []
    while True:
        event = await client.next_event("chat.message")
        seen.append(event["text"])
        if event["text"] == last:
            return seen


async def events_until(client: LiveClient, text: str) -> list[dict[str, Any]]:
    """Every event (but viewer counts) received until the chat message saying `text`."""
    seen = []
    while True:
        event = await client.next_event()
        if event["type"] != "room.viewers":
            seen.append(event)
        if event["type"] == "chat.message" and event["text"] == text:
            return seen


async def test_chat_of_a_blocked_user_reaches_the_blocker_nowhere(topology: tuple[str, Settings]) -> None:
    async with nodes(topology) as (a, b):
        owner, ana, troll, cy = (Person(a, n) for n in ("owner", "ana", "troll", "cy"))
        try:
            community = await make_community(owner)
            for p in (ana, troll, cy):
                await add_member(owner, community, p)
            live = await owner.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
            room = live["room"]
            c_troll = await LiveClient.connect(a.ws_url, a.token(troll.id, "troll"))
            c_cy = await LiveClient.connect(a.ws_url, a.token(cy.id, "cy"))
            c_ana = await LiveClient.connect(b.ws_url, b.token(ana.id, "ana"))  # the other node
            c_witness = await LiveClient.connect(b.ws_url, b.token(owner.id, "owner"))
            clients = (c_troll, c_cy, c_ana, c_witness)
            try:
                for client in clients:
                    await client.request("room.join", room=room)
                await c_troll.request("chat.send", room=room, text="before", nonce="t0")
                joined = await c_ana.request("chat.send", room=room, text="ana here", nonce="a0")
                assert await texts_until(c_ana, "ana here") == ["before", "ana here"]

                # The block, made on node A while ana is connected to node B.
                await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": troll.id})
                await blocks_known(b, ana.id, frozenset({troll.id}))
                await c_troll.request("chat.send", room=room, text="nasty 1", nonce="t1")
                await c_cy.request("chat.send", room=room, text="kind 1", nonce="c1")
                assert await texts_until(c_ana, "kind 1") == ["kind 1"]
                assert await texts_until(c_witness, "kind 1") == ["before", "ana here", "nasty 1", "kind 1"]

                # A pin of troll's message does not reach ana, live or in a join's state.
                await owner.ok("PUT", f"/v1/live/{live['id']}/pin", json={"seq": 3})
                assert (await c_witness.next_event("chat.pinned"))["message"]["text"] == "nasty 1"
                await c_cy.request("chat.send", room=room, text="after the pin", nonce="c2")
                seen = await events_until(c_ana, "after the pin")
                assert [e["type"] for e in seen] == ["chat.message"], seen
                # Join history (fresh, and a recovery with `since`) leaves them out too.
                fresh = await c_ana.request("room.join", room=room)
                assert [m["text"] for m in fresh["history"]] == ["ana here", "kind 1", "after the pin"]
                assert fresh["state"]["pinned"] is None
                recovered = await c_ana.request("room.join", room=room,
                                                since={"epoch": joined["epoch"], "seq": joined["seq"]})
                assert recovered["recovered"] is True
                assert [m["text"] for m in recovered["history"]] == ["kind 1", "after the pin"]
                # So does the HTTP history, on either node.
                for node in (a, b):
                    async with node.client(ana.id, "ana") as http:
                        page = (await http.get(f"/v1/live/{live['id']}/chat")).json()
                    assert [m["text"] for m in page["items"]] == ["ana here", "kind 1", "after the pin"]
                async with a.client(cy.id, "cy") as http:
                    assert len((await http.get(f"/v1/live/{live['id']}/chat")).json()["items"]) == 5

                # Unblocked on node B: troll's messages reach ana on node B again.
                await ana.ok("DELETE", f"/v1/me/blocks/{troll.id}", 204)
                await blocks_known(b, ana.id, frozenset())
                await c_troll.request("chat.send", room=room, text="sorry", nonce="t2")
                assert await texts_until(c_ana, "sorry") == ["sorry"]

            finally:
                for client in clients:
                    await client.close()
        finally:
            for p in (owner, ana, troll, cy):
                await p.http.aclose()


async def test_a_block_made_before_connecting_is_read_at_connect(sqlite_server: RunningServer) -> None:
    server = sqlite_server
    async with people(server, "owner", "ana", "troll") as (owner, ana, troll):
        community = await make_community(owner)
        group = await owner.ok("POST", f"/v1/communities/{community['id']}/groups", 201, json={"name": "g"})
        for p in (ana, troll):
            await add_member(owner, community, p)
            await p.ok("POST", f"/v1/groups/{group['id']}/join")
        await ana.ok("POST", "/v1/me/blocks", 201, json={"user_id": troll.id})
        room = group["room"]
        c_ana = await LiveClient.connect(server.ws_url, server.token(ana.id, "ana"), encoding="msgpack")
        c_troll = await LiveClient.connect(server.ws_url, server.token(troll.id, "troll"))
        try:
            await c_ana.request("room.join", room=room)
            await c_troll.request("room.join", room=room)
            await c_troll.request("chat.send", room=room, text="nasty", nonce="1")
            await c_ana.request("chat.send", room=room, text="mine", nonce="2")
            assert await texts_until(c_ana, "mine") == ["mine"]
            async with server.client(ana.id, "ana") as http:
                page = (await http.get(f"/v1/groups/{group['id']}/chat")).json()
            assert [m["text"] for m in page["items"]] == ["mine"]
        finally:
            await c_ana.close()
            await c_troll.close()


async def test_unblocking_an_id_we_never_issued_is_404(server: RunningServer) -> None:
    async with people(server, "ana") as (ana,):
        error_of(await ana.call("DELETE", "/v1/me/blocks/" + "x" * 65), 404, "not_found")
        assert (await ana.ok("GET", "/v1/me/blocks"))["items"] == []
