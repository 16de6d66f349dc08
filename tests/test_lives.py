"""The live tab over HTTP: going live, listing, getting, ending, chat history, and every error."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from live.auth.tokens import Principal
from live.lives.models import Live
from tests.support.communities import add_member, ban, error_of, make_community, mute, people
from tests.support.servers import RunningServer
from tests.support.waiting import poll


async def test_go_live_get_list_end(server: RunningServer) -> None:
    started: list[dict[str, Any]] = []
    ended: list[dict[str, Any]] = []

    async def on_started(payload: dict[str, Any]) -> None:
        started.append(payload)

    async def on_ended(payload: dict[str, Any]) -> None:
        ended.append(payload)

    server.services.events.on("live.started", on_started)
    server.services.events.on("live.ended", on_ended)
    async with people(server, "alice", "bob", "carol") as (alice, bob, carol):
        community = await make_community(alice)
        cid = community["id"]
        await add_member(alice, community, bob)
        live = await alice.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "  Hello world  "})
        assert live == {
            **live,
            "community_id": cid,
            "host": {"id": alice.id, "name": "alice"},
            "title": "Hello world",
            "status": "live",
            "room": f"live:{live['id']}",
            "viewer_count": 0,
            "ended_at": None,
            "peak_viewers": 0,
            "thumbnail_url": None,
        }
        assert live["started_at"].endswith("Z")
        assert started == [{"community_id": cid, "live": live}]

        bob_live = await bob.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "bob's"})
        # A public community: anyone signed in reads the tab, and each live.
        listing = await carol.ok("GET", f"/v1/communities/{cid}/live")
        assert {item["id"] for item in listing["items"]} == {live["id"], bob_live["id"]}
        assert (await carol.ok("GET", f"/v1/live/{live['id']}"))["title"] == "Hello world"

        # A thumbnail appears once the media side records one.
        async with server.services.db.session() as session:
            await session.execute(update(Live).where(Live.id == live["id"]).values(thumbnail_path="x.jpg"))
        got = await carol.ok("GET", f"/v1/live/{live['id']}")
        assert got["thumbnail_url"] == f"/v1/live/{live['id']}/thumbnail.jpg"

        # Not the host, not staff: forbidden; the host ends it.
        error_of(await bob.call("POST", f"/v1/live/{live['id']}/end"), 403, "forbidden")
        error_of(await carol.call("POST", f"/v1/live/{live['id']}/end"), 403, "forbidden")
        done = await alice.ok("POST", f"/v1/live/{live['id']}/end")
        assert done["status"] == "ended" and done["ended_at"] and done["peak_viewers"] == 0
        assert ended == [{"community_id": cid, "live": done}]
        error_of(await alice.call("POST", f"/v1/live/{live['id']}/end"), 409, "conflict")
        listing = await carol.ok("GET", f"/v1/communities/{cid}/live")
        assert [item["id"] for item in listing["items"]] == [bob_live["id"]]
        assert (await carol.ok("GET", f"/v1/live/{live['id']}"))["status"] == "ended"

        # The owner (staff) ends someone else's live.
        assert (await alice.ok("POST", f"/v1/live/{bob_live['id']}/end"))["status"] == "ended"
        # After the end, the host may go live again.
        await alice.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "again"})


async def test_one_live_per_host_even_when_racing(server: RunningServer) -> None:
    async with people(server, "alice") as (alice,):
        cid = (await make_community(alice))["id"]
        other = (await make_community(alice, name="second"))["id"]
        results = await asyncio.gather(
            *(alice.call("POST", f"/v1/communities/{c}/live", json={"title": f"t{i}"})
              for i, c in enumerate([cid, other] * 4))
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [201] + [409] * 7, codes
        for r in results:
            if r.status_code == 409:
                error_of(r, 409, "conflict")
        error_of(await alice.call("POST", f"/v1/communities/{cid}/live", json={"title": "x"}), 409, "conflict")


async def test_most_viewers_first(server: RunningServer) -> None:
    class FakeCounts:
        def __init__(self) -> None:
            self.counts: dict[str, int] = {}

        def count(self, room: str) -> int:
            return self.counts.get(room, 0)

        async def user_count(self, room: str, user_id: str) -> int:
            return 0

    # Presence is the gateway's; this stands in for the counts the live service reads, so the
    # ordering is exact.
    lives = server.services.lives
    previous = lives.presence
    counts = FakeCounts()
    lives.presence = counts
    try:
        async with people(server, "a", "b", "c") as (a, b, c):
            community = await make_community(a)
            cid = community["id"]
            await add_member(a, community, b)
            await add_member(a, community, c)
            la = await a.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "a"})
            lb = await b.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "b"})
            lc = await c.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "c"})
            counts.counts = {la["room"]: 3, lb["room"]: 10, lc["room"]: 0}
            items = (await a.ok("GET", f"/v1/communities/{cid}/live"))["items"]
            assert [(i["id"], i["viewer_count"]) for i in items] == [(lb["id"], 10), (la["id"], 3), (lc["id"], 0)]
            # peak_viewers keeps the highest count the gateway reported.
            for n in (4, 9, 2):
                await lives.record_viewers(la["id"], n)
            counts.counts[la["room"]] = 1
            assert (await a.ok("POST", f"/v1/live/{la['id']}/end"))["peak_viewers"] == 9
    finally:
        lives.presence = previous


async def test_errors(server: RunningServer) -> None:
    async with people(server, "owner", "member", "outsider", "banned", "muted", "mod") as cast:
        owner, member, outsider, banned, muted, mod = cast
        community = await make_community(owner)
        cid = community["id"]
        private = await make_community(owner, name="private", read_policy="members")
        for who in (member, banned, muted):
            await add_member(owner, community, who)
        await add_member(owner, community, mod, role="moderator")
        await ban(server, cid, banned.id)
        await mute(server, cid, muted.id)

        url = f"/v1/communities/{cid}/live"
        error_of(await outsider.call("POST", url, json={"title": "x"}), 403, "not_member")
        error_of(await banned.call("POST", url, json={"title": "x"}), 403, "not_member")
        assert error_of(await muted.call("POST", url, json={"title": "x"}), 403, "muted")["message"]
        error_of(await member.call("POST", "/v1/communities/nope/live", json={"title": "x"}), 404, "not_found")
        for body in ({}, {"title": ""}, {"title": "   "}, {"title": 5}, {"title": "x" * 201}, {"title": "a\x00b"}):
            err = error_of(await member.call("POST", url, json=body), 422, "invalid_request")
            assert "title" in err["fields"], err
        error_of(await member.call("POST", url, content=b"{nope", headers={"content-type": "application/json"}),
                 422, "invalid_request")

        # A members-only community hides its lives from outsiders (404, as the community).
        plive = await owner.ok("POST", f"/v1/communities/{private['id']}/live", 201, json={"title": "p"})
        error_of(await outsider.call("GET", f"/v1/communities/{private['id']}/live"), 404, "not_found")
        error_of(await outsider.call("GET", f"/v1/live/{plive['id']}"), 404, "not_found")
        error_of(await outsider.call("GET", f"/v1/live/{plive['id']}/chat"), 404, "not_found")
        error_of(await outsider.call("POST", f"/v1/live/{plive['id']}/end"), 404, "not_found")
        for path in ("/v1/live/nope", "/v1/live/nope/chat"):
            error_of(await member.call("GET", path), 404, "not_found")
        error_of(await member.call("POST", "/v1/live/nope/end"), 404, "not_found")

        # A moderator ends a member's live; a plain member cannot.
        mlive = await member.ok("POST", url, 201, json={"title": "m"})
        error_of(await muted.call("POST", f"/v1/live/{mlive['id']}/end"), 403, "forbidden")
        assert (await mod.ok("POST", f"/v1/live/{mlive['id']}/end"))["status"] == "ended"

        # No token at all, on every endpoint.
        async with server.client() as anon:
            for method, path in [
                ("POST", url), ("GET", url), ("GET", f"/v1/live/{mlive['id']}"),
                ("POST", f"/v1/live/{mlive['id']}/end"), ("GET", f"/v1/live/{mlive['id']}/chat"),
                ("PUT", f"/v1/live/{mlive['id']}/pin"), ("DELETE", f"/v1/live/{mlive['id']}/pin"),
                ("GET", "/v1/groups/x/chat"),
            ]:
                error_of(await anon.request(method, path, json={"title": "x", "seq": 1}), 401, "unauthorized")

        # Bad paging of the chat history.
        for bad in ("after_seq=-1", "limit=0", "limit=201", "limit=x", "after_seq=y"):
            error_of(await owner.call("GET", f"/v1/live/{plive['id']}/chat?{bad}"), 422, "invalid_request")


async def test_chat_history_pages_oldest_first(server: RunningServer) -> None:
    async with people(server, "alice", "reader") as (alice, reader):
        cid = (await make_community(alice))["id"]
        live = await alice.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "talk"})
        chat = server.services.chat
        me = Principal(alice.id, "alice")
        sent = [await chat.append(live["room"], me, f"m{i}", f"n{i}") for i in range(7)]
        await chat.delete(live["room"], sent[2]["seq"], me, "typo")
        page = await reader.ok("GET", f"/v1/live/{live['id']}/chat?limit=3")
        assert [m["text"] for m in page["items"]] == ["m0", "m1", "m3"]
        assert page["next_after_seq"] == sent[3]["seq"]
        page = await reader.ok("GET", f"/v1/live/{live['id']}/chat?limit=3&after_seq={page['next_after_seq']}")
        assert [m["text"] for m in page["items"]] == ["m4", "m5", "m6"]
        assert page["items"][0] == sent[4]
        page = await reader.ok("GET", f"/v1/live/{live['id']}/chat?after_seq={sent[6]['seq']}")
        assert page == {"items": [], "next_after_seq": None}
        # A live without any chat yet: an empty page.
        other = await reader.ok("POST", f"/v1/communities/{cid}/join")
        assert other
        quiet = await reader.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "quiet"})
        assert (await alice.ok("GET", f"/v1/live/{quiet['id']}/chat")) == {"items": [], "next_after_seq": None}


async def test_pin_a_chat_message(server: RunningServer) -> None:
    from live.bus.base import Message
    from live.rooms.channels import decode_event, room_channel

    async with people(server, "host", "mod", "member") as (host, mod, member):
        community = await make_community(host)
        cid = community["id"]
        await add_member(host, community, mod, role="moderator")
        await add_member(host, community, member)
        live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "pins"})
        lid, room = live["id"], live["room"]
        chat = server.services.chat
        lives = server.services.lives
        sub = server.services.bus.subscription()
        await sub.subscribe(room_channel(room))
        heard: list[dict[str, Any]] = []

        async def listen() -> None:
            async for ev in sub:
                if isinstance(ev, Message):
                    event = decode_event(ev.data)
                    assert isinstance(event, dict)
                    if event["type"] == "chat.pinned":
                        heard.append(event)

        task = asyncio.create_task(listen())
        try:
            first = await chat.append(room, Principal(member.id, "member"), "pin me", "p1")
            second = await chat.append(room, Principal(member.id, "member"), "or me", "p2")
            assert (await lives.state(lid))["pinned"] is None
            pinned = await host.ok("PUT", f"/v1/live/{lid}/pin", json={"seq": first["seq"]})
            assert pinned == {"pinned": first}
            assert (await lives.state(lid))["pinned"] == first
            assert (await mod.ok("PUT", f"/v1/live/{lid}/pin", json={"seq": second["seq"]}))["pinned"] == second
            error_of(await member.call("PUT", f"/v1/live/{lid}/pin", json={"seq": first["seq"]}), 403, "forbidden")
            error_of(await host.call("PUT", f"/v1/live/{lid}/pin", json={"seq": 99}), 404, "not_found")
            error_of(await host.call("PUT", "/v1/live/nope/pin", json={"seq": 1}), 404, "not_found")
            for body in ({}, {"seq": 0}, {"seq": "1"}):
                error_of(await host.call("PUT", f"/v1/live/{lid}/pin", json=body), 422, "invalid_request")
            assert (await lives.state(lid))["pinned"] == second  # failures changed nothing
            # Deleting the pinned message unpins it.
            await chat.delete(room, second["seq"], Principal(member.id, "member"), "")
            assert (await lives.state(lid))["pinned"] is None
            await host.ok("PUT", f"/v1/live/{lid}/pin", json={"seq": first["seq"]})
            assert (await host.ok("DELETE", f"/v1/live/{lid}/pin")) == {"pinned": None}
            assert (await lives.state(lid))["pinned"] is None
            await poll(lambda: len(heard) >= 5, 10)
            assert [h["message"]["seq"] if h["message"] else None for h in heard] == [
                first["seq"], second["seq"], None, first["seq"], None
            ]
            assert all(h["room"] == room for h in heard)
            await host.ok("POST", f"/v1/live/{lid}/end")
            error_of(await host.call("PUT", f"/v1/live/{lid}/pin", json={"seq": first["seq"]}), 409, "conflict")
        finally:
            task.cancel()
            await sub.close()


async def test_a_deleted_community_does_not_trap_its_host(server: RunningServer) -> None:
    async with people(server, "alice") as (alice,):
        gone = (await make_community(alice, name="soon gone"))["id"]
        other = (await make_community(alice, name="other"))["id"]
        first = await alice.ok("POST", f"/v1/communities/{gone}/live", 201, json={"title": "x"})
        await alice.ok("DELETE", f"/v1/communities/{gone}", 204)
        # The running live of a deleted community does not block going live elsewhere.
        await alice.ok("POST", f"/v1/communities/{other}/live", 201, json={"title": "y"})
        async with server.services.db.session() as session:
            live = await session.get(Live, first["id"])
            assert live is not None and live.status == "ended" and live.end_reason == "community_deleted"
        # And the host can always end their own live, even where the community is gone.
        current = (await alice.ok("GET", f"/v1/communities/{other}/live"))["items"][0]
        await alice.ok("DELETE", f"/v1/communities/{other}", 204)
        assert (await alice.ok("POST", f"/v1/live/{current['id']}/end"))["status"] == "ended"


async def test_past_lives(server: RunningServer) -> None:
    async with people(server, "host", "outsider") as (host, outsider):
        cid = (await make_community(host))["id"]
        private = (await make_community(host, name="private", read_policy="members"))["id"]
        ended = []
        for i in range(5):
            live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": f"t{i}"})
            ended.append(await host.ok("POST", f"/v1/live/{live['id']}/end"))
        running = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "now"})
        seen, cursor = [], ""
        while True:
            page = await outsider.ok("GET", f"/v1/communities/{cid}/live?status=ended&limit=2&cursor={cursor}")
            assert len(page["items"]) <= 2
            seen += page["items"]
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert seen == list(reversed(ended))
        live_now = await outsider.ok("GET", f"/v1/communities/{cid}/live")
        assert [i["id"] for i in live_now["items"]] == [running["id"]]
        for bad in ("status=over", "limit=0", "limit=101", "cursor=" + "x" * 65):
            error_of(await outsider.call("GET", f"/v1/communities/{cid}/live?{bad}"), 422, "invalid_request")
        error_of(await outsider.call("GET", f"/v1/communities/{private}/live?status=ended"), 404, "not_found")


async def test_a_banned_or_kicked_host_stops_hosting(server: RunningServer) -> None:
    async with people(server, "owner", "mod", "h1", "h2") as (owner, mod, h1, h2):
        community = await make_community(owner)
        cid = community["id"]
        await add_member(owner, community, mod, role="moderator")
        await add_member(owner, community, h1)
        await add_member(owner, community, h2)
        l1 = await h1.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "1"})
        l2 = await h2.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "2"})
        # h1 is also a guest on the owner's live: a ban takes them off that stage.
        lo = await owner.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "o"})
        lives = server.services.lives
        await lives.stage_action(lo["id"], Principal(owner.id, "owner"), "invite", h1.id)
        await lives.stage_action(lo["id"], Principal(h1.id, "h1"), "accept")
        assert await lives.may_publish(lo["id"], h1.id)
        await mod.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                     json={"action": "mute", "user_id": h2.id, "duration_seconds": 60, "reason": "calm"})
        assert (await owner.ok("GET", f"/v1/live/{l2['id']}"))["status"] == "live"  # a mute does not end it
        await mod.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                     json={"action": "ban", "user_id": h1.id, "reason": "abuse"})
        await mod.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                     json={"action": "kick", "user_id": h2.id, "reason": "out"})
        for lid in (l1["id"], l2["id"]):
            assert (await owner.ok("GET", f"/v1/live/{lid}"))["status"] == "ended"
        async with server.services.db.session() as session:
            reasons = {(await session.get(Live, lid)).end_reason for lid in (l1["id"], l2["id"])}  # type: ignore[union-attr]
        assert reasons == {"host_banned", "host_kicked"}
        assert (await lives.state(lo["id"]))["stage"] == [{"user_id": owner.id, "role": "host"}]


async def test_group_chat_history(server: RunningServer) -> None:
    async with people(server, "owner", "in", "out", "stranger") as (owner, inside, out, stranger):
        community = await make_community(owner, read_policy="members")
        await add_member(owner, community, inside)
        await add_member(owner, community, out)
        group = await owner.ok("POST", f"/v1/communities/{community['id']}/groups", 201, json={"name": "g"})
        await inside.ok("POST", f"/v1/groups/{group['id']}/join")
        chat = server.services.chat
        room = f"group:{group['id']}"
        for i in range(3):
            await chat.append(room, Principal(inside.id, "in"), f"g{i}", f"g{i}")
        page = await inside.ok("GET", f"/v1/groups/{group['id']}/chat?limit=2")
        assert [m["text"] for m in page["items"]] == ["g0", "g1"] and page["next_after_seq"] == 2
        page = await inside.ok("GET", f"/v1/groups/{group['id']}/chat?after_seq=2")
        assert [m["text"] for m in page["items"]] == ["g2"] and page["next_after_seq"] is None
        error_of(await out.call("GET", f"/v1/groups/{group['id']}/chat"), 403, "forbidden")
        error_of(await stranger.call("GET", f"/v1/groups/{group['id']}/chat"), 404, "not_found")
        error_of(await inside.call("GET", "/v1/groups/nope/chat"), 404, "not_found")
        error_of(await inside.call("GET", f"/v1/groups/{group['id']}/chat?limit=0"), 422, "invalid_request")


async def test_a_thumbnail_replaced_while_it_is_served_is_always_whole(server: RunningServer) -> None:
    """The media side replaces a live's thumbnail every few seconds (write, then rename): every
    answer is one whole version, never a 500 (the length announced, then other bytes sent)."""
    import os
    import threading
    from pathlib import Path

    async with people(server, "alice") as (alice,):
        community = await make_community(alice)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "thumbs"})
        folder = Path(server.services.settings.var_dir) / "thumbnails"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{live['id']}.jpg"
        versions = [b"\xff\xd8small\xff\xd9", b"\xff\xd8" + b"L" * 60_000 + b"\xff\xd9"]
        assert (await alice.call("GET", f"/v1/live/{live['id']}/thumbnail.jpg")).status_code == 404
        path.write_bytes(versions[0])
        stop = threading.Event()

        def replace_forever() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                tmp = path.with_suffix(".jpg.tmp")
                tmp.write_bytes(versions[n % 2])
                os.replace(tmp, path)

        writer = threading.Thread(target=replace_forever, daemon=True)
        writer.start()
        try:
            for _ in range(150):
                resp = await alice.call("GET", f"/v1/live/{live['id']}/thumbnail.jpg")
                assert resp.status_code == 200, resp.text
                assert resp.content in versions and resp.headers["content-type"] == "image/jpeg"
        finally:
            stop.set()
            writer.join(5)
