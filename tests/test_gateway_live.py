"""Live rooms through the gateway: the live tab's events, chat, reactions, stage, viewers, recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from live.client import LiveClient, RequestFailed
from tests.support.clock import ManualClock, until
from tests.support.communities import Person, add_member, make_community, people
from tests.support.servers import RunningServer, run_server


async def connect(server: RunningServer, person: Person, encoding: str = "json") -> LiveClient:
    return await LiveClient.connect(server.url, server.token(person.id, person.name), encoding)


async def go_live(host: Person, cid: str, title: str = "hello") -> dict[str, Any]:
    return await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": title})


@pytest.fixture
async def manual_grace(make_settings: Any) -> AsyncIterator[tuple[RunningServer, ManualClock]]:
    """A server whose grace periods run on a clock the test moves (`ManualClock`)."""
    async with run_server(make_settings(live_grace_seconds=60)) as running:
        clock = ManualClock()
        running.services.lives.grace.sleep = clock.sleep
        yield running, clock


async def test_watch_a_live_chat_and_see_the_same_order(server: RunningServer) -> None:
    async with people(server, "alice", "bob", "carol", "rita") as (alice, bob, carol, rita):
        community = await make_community(alice)
        cid = community["id"]
        await add_member(alice, community, bob)
        await add_member(alice, community, carol)
        c_bob = await connect(server, bob, "msgpack")
        await c_bob.request("room.join", room=f"community:{cid}")
        live = await go_live(alice, cid, "first live")
        started = await c_bob.next_event("live.started")
        assert started["community_id"] == cid and started["live"]["id"] == live["id"]
        room = live["room"]
        c_carol, c_rita = await connect(server, carol), await connect(server, rita)
        try:
            joined = await c_bob.request("room.join", room=room)
            assert joined["room"] == room and joined["seq"] == 0 and joined["history"] == []
            assert isinstance(joined["epoch"], str)
            assert joined["state"]["title"] == "first live"
            assert joined["state"]["host"]["id"] == alice.id
            await c_carol.request("room.join", room=room)
            await c_rita.request("room.join", room=room)  # a reader of a public community watches
            acks = []
            for i in range(6):
                who = c_bob if i % 2 == 0 else c_carol
                acks.append(await who.request("chat.send", room=room, text=f"m{i}", nonce=f"n{i}"))
            assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5, 6]
            seen = {}
            for name, c in (("bob", c_bob), ("carol", c_carol), ("rita", c_rita)):
                got = [await c.next_event("chat.message", room=room) for _ in range(6)]
                seen[name] = [(m["seq"], m["text"], m["user"]["id"]) for m in got]
                assert all(m["epoch"] == joined["epoch"] and m["room"] == room for m in got)
            assert seen["bob"] == seen["carol"] == seen["rita"]
            assert [s[1] for s in seen["bob"]] == [f"m{i}" for i in range(6)]
            again = await c_bob.request("chat.send", room=room, text="m0", nonce="n0")
            assert (again["seq"], again["id"]) == (1, acks[0]["id"])  # a repeated nonce is stored once
            with pytest.raises(RequestFailed) as caught:
                await c_rita.request("chat.send", room=room, text="hi", nonce="r1")
            assert caught.value.code == "not_member"
            with pytest.raises(RequestFailed) as caught:
                await c_bob.request("chat.send", room=room, text="x" * 501)
            assert caught.value.code == "message_too_long"
            # late joiner gets history; a since-join recovers exactly what was missed
            late = await connect(server, carol)
            history = await late.request("room.join", room=room)
            assert [m["seq"] for m in history["history"]] == [1, 2, 3, 4, 5, 6]
            back = await late.request("room.join", room=room, since={"epoch": joined["epoch"], "seq": 4})
            assert back["recovered"] is True and [m["seq"] for m in back["history"]] == [5, 6]
            stale = await late.request("room.join", room=room, since={"epoch": "other", "seq": 4})
            assert stale["recovered"] is False
            await late.close()
            # delete by the author
            await c_bob.request("chat.delete", room=room, seq=1, reason="typo")
            deleted = await c_carol.next_event("chat.deleted")
            assert deleted["room"] == room and deleted["seq"] == 1
            with pytest.raises(RequestFailed) as caught:
                await c_rita.request("chat.delete", room=room, seq=2)
            assert caught.value.code in ("forbidden", "not_member")
        finally:
            for c in (c_bob, c_carol, c_rita):
                await c.close()


async def test_viewers_reactions_and_stage(server: RunningServer) -> None:
    async with people(server, "alice", "bob", "carol") as (alice, bob, carol):
        community = await make_community(alice)
        cid = community["id"]
        for p in (bob, carol):
            await add_member(alice, community, p)
        live = await go_live(alice, cid)
        room = live["room"]
        c_alice, c_bob, c_carol = [await connect(server, p) for p in (alice, bob, carol)]
        try:
            for c in (c_alice, c_bob, c_carol):
                await c.request("room.join", room=room)
            # the host is not a viewer: two viewers
            for _ in range(5):
                viewers = await c_bob.next_event("room.viewers", timeout=5)
                if viewers["count"] == 2:
                    break
            assert viewers == {"type": "room.viewers", "room": room, "count": 2}
            tab = await bob.ok("GET", f"/v1/communities/{cid}/live")
            assert tab["items"][0]["id"] == live["id"] and tab["items"][0]["viewer_count"] == 2
            for _ in range(7):
                await c_bob.request("reaction.send", room=room, kind="heart")
            for _ in range(3):
                await c_carol.request("reaction.send", room=room, kind="clap")
            totals: dict[str, int] = {}
            while totals != {"heart": 7, "clap": 3}:
                event = await c_alice.next_event("reactions", timeout=5)
                assert event["room"] == room
                for kind, n in event["counts"].items():
                    totals[kind] = totals.get(kind, 0) + n
            # stage: request, accept, and the room hears stage.updated
            asked = await c_bob.request("stage.request", room=room)
            assert any(s["user_id"] == bob.id for s in asked["stage"])
            accepted = await c_alice.request("stage.accept", room=room, user_id=bob.id)
            assert any(s["user_id"] == bob.id for s in accepted["stage"])
            updated = await c_carol.next_event("stage.updated")
            assert updated["room"] == room
            with pytest.raises(RequestFailed) as caught:
                await c_carol.request("stage.accept", room=room, user_id=bob.id)
            assert caught.value.code == "forbidden"
            with pytest.raises(RequestFailed) as caught:
                await c_carol.request("stage.request", room=f"community:{cid}")
            assert caught.value.code == "invalid_request"
        finally:
            for c in (c_alice, c_bob, c_carol):
                await c.close()


async def test_host_leaving_ends_the_live_after_grace(manual_grace: tuple[RunningServer, ManualClock]) -> None:
    server, clock = manual_grace
    lives = server.services.lives
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        cid = community["id"]
        await add_member(alice, community, bob)
        live = await go_live(alice, cid)
        c_bob = await connect(server, bob)
        await c_bob.request("room.join", room=f"community:{cid}")
        await c_bob.request("room.join", room=live["room"])
        host = await connect(server, alice)
        await host.request("room.join", room=live["room"])
        await until(lambda: live["id"] not in lives.grace)  # the host is there: no timer
        clock.advance(120)
        assert (await alice.ok("GET", f"/v1/live/{live['id']}"))["status"] == "live"
        await host.close()
        await until(lambda: clock.asleep(f"live-grace-{live['id']}"))
        clock.advance(60)
        ended = await c_bob.next_event("live.ended", timeout=10)
        assert ended["live"]["id"] == live["id"] and ended["live"]["status"] == "ended"
        closed = await c_bob.next_event("room.closed", timeout=5)
        assert closed == {"type": "room.closed", "room": live["room"], "reason": "ended"}
        with pytest.raises(RequestFailed) as caught:
            await c_bob.request("room.join", room=live["room"])
        assert caught.value.code == "conflict"
        await c_bob.close()


async def test_live_rooms_of_unreadable_communities_are_hidden(server: RunningServer) -> None:
    async with people(server, "alice", "eve") as (alice, eve):
        community = await make_community(alice, read_policy="members")
        live = await go_live(alice, community["id"])
        c = await connect(server, eve)
        try:
            for room in (live["room"], "live:nope"):
                with pytest.raises(RequestFailed) as caught:
                    await c.request("room.join", room=room)
                assert caught.value.code == "not_found"
        finally:
            await c.close()


async def test_a_chat_message_that_skips_a_seq_is_held_and_the_room_recovered(server: RunningServer) -> None:
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        await add_member(alice, community, bob)
        live = await go_live(alice, community["id"])
        room = live["room"]
        c_bob = await connect(server, bob)
        try:
            joined = await c_bob.request("room.join", room=room)
            first = await c_bob.request("chat.send", room=room, text="one", nonce="1")
            assert (await c_bob.next_event("chat.message"))["seq"] == first["seq"]
            # an event claiming seq +5 that the store never had: not delivered; the node asks the
            # store what it missed (nothing) and goes on
            bogus = {"type": "chat.message", "room": room, "epoch": joined["epoch"], "seq": first["seq"] + 5,
                     "id": "x", "user": {"id": "z", "name": "z"}, "text": "bogus", "ts": "2026-01-01T00:00:00Z"}
            await server.services.gateway.publish_room(room, bogus)
            second = await c_bob.request("chat.send", room=room, text="two", nonce="2")
            got = await c_bob.next_event("chat.message")
            assert (got["seq"], got["text"]) == (second["seq"], "two")
        finally:
            await c_bob.close()


async def test_group_rooms_chat_with_history(server: RunningServer) -> None:
    async with people(server, "owner", "gina", "hank") as (owner, gina, hank):
        community = await make_community(owner)
        cid = community["id"]
        for p in (gina, hank):
            await add_member(owner, community, p)
        group = await owner.ok("POST", f"/v1/communities/{cid}/groups", 201, json={"name": "crew"})
        for p in (gina, hank):
            await p.ok("POST", f"/v1/groups/{group['id']}/join")
        room = f"group:{group['id']}"
        c_gina, c_hank = await connect(server, gina, "msgpack"), await connect(server, hank)
        try:
            await c_gina.request("room.join", room=room)
            sent = await c_gina.request("chat.send", room=room, text="crew only", nonce="g1")
            assert sent["seq"] == 1
            joined = await c_hank.request("room.join", room=room)
            assert [m["text"] for m in joined["history"]] == ["crew only"]
            assert "state" not in joined  # only live rooms carry a live state
            await c_hank.request("chat.send", room=room, text="hi gina", nonce="h1")
            own = await c_gina.next_event("chat.message", room=room)
            got = await c_gina.next_event("chat.message", room=room)
            assert (own["seq"], own["text"]) == (1, "crew only")
            assert (got["seq"], got["text"], got["user"]["id"]) == (2, "hi gina", hank.id)
        finally:
            await c_gina.close()
            await c_hank.close()
