"""The WebSocket gateway end to end: real servers, real sockets, `LiveClient` and raw clients."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live.client import Closed, LiveClient, RequestFailed, ws_url
from tests.support.communities import add_member, make_community, people
from tests.support.servers import RunningServer, run_server, settings, uid
from tests.support.sockets import client_socket, server_side, small_buffers


@pytest.fixture
async def node(sqlite_url: str) -> AsyncIterator[RunningServer]:
    """One server on SQLite with a small outgoing cap (transport tests need no PostgreSQL leg)."""
    async with run_server(settings(database_url=sqlite_url, send_queue_bytes=16384,
                                   max_frame_bytes=4096)) as running:
        yield running


async def client(server: RunningServer, user: str | None = None, encoding: str = "json") -> LiveClient:
    user = user or uid("c")
    return await LiveClient.connect(server.url, server.token(user, user.title()), encoding)


def gateway(server: RunningServer) -> Any:
    return server.services.gateway


# -- connecting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
async def test_welcome_comes_first_with_the_subprotocol(node: RunningServer, encoding: str) -> None:
    who = uid("w")
    c = await client(node, who, encoding)
    try:
        assert c.ws.subprotocol == f"live.v1.{encoding}"
        w = c.welcome
        assert w["type"] == "welcome" and w["user"] == {"id": who, "name": who.title()}
        assert isinstance(w["session"], str) and w["session"]
        assert w["heartbeat"] == node.settings.heartbeat_seconds
        assert w["ice_servers"] == node.settings.ice_servers
        assert await c.request("ping") == {"type": "ok", "ref": 1}
    finally:
        await c.close()


async def test_no_subprotocol_means_json(node: RunningServer) -> None:
    async with connect(ws_url(node.url, node.token("plain"))) as ws:
        assert ws.subprotocol is None
        first = await ws.recv()
        assert isinstance(first, str) and json.loads(first)["type"] == "welcome"
        await ws.send(json.dumps({"type": "ping", "ref": "p"}))
        assert json.loads(await ws.recv()) == {"type": "ok", "ref": "p"}


@pytest.mark.parametrize("token", ["", "not-a-jwt", "forged", "expired"])
async def test_bad_tokens_close_4001(node: RunningServer, token: str) -> None:
    if token == "forged":
        from live.auth.tokens import mint

        token = mint("another-secret-" + "y" * 32, "mallory")
    elif token == "expired":
        token = node.token("old", ttl=-3600)
    with pytest.raises(Closed) as caught:
        await LiveClient.connect(node.url, token)
    assert caught.value.code == 4001


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
async def test_bad_input_gets_typed_errors_and_the_connection_stays(node: RunningServer, encoding: str) -> None:
    c = await client(node, encoding=encoding)
    pack = (lambda m: msgpack.packb(m)) if encoding == "msgpack" else json.dumps
    try:
        bad: list[tuple[Any, Any, dict[str, str] | None]] = [
            (b"\xc1\xff\x00" if encoding == "msgpack" else "{oops", None, None),
            (pack([1, 2, 3]), None, None),
            (pack({"ref": "a"}), "a", {"type": "required"}),
            (pack({"type": "chat.yell", "ref": "b"}), "b", {"type": "unknown"}),
            (pack({"type": "room.join", "ref": "c", "room": 42}), "c", None),
            (pack({"type": "chat.send", "ref": "d", "room": "live:x", "text": ["x"]}), "d", None),
            (pack({"type": "chat.delete", "ref": "e", "room": "live:x", "seq": "one"}), "e", None),
        ]
        for raw, ref, fields in bad:
            await c.ws.send(raw)
            event = await c.next_event("error", timeout=5)
            assert event["code"] == "invalid_request" and event["message"]
            assert event.get("ref") == ref
            if fields:
                assert event["fields"] == fields
        assert (await c.request("ping"))["type"] == "ok"
    finally:
        await c.close()
    other = await client(node)  # and the server is fine for everyone else
    assert (await other.request("ping"))["type"] == "ok"
    await other.close()


async def test_oversized_frame_closes_4009_not_1009(node: RunningServer) -> None:
    c = await client(node)
    await c.ws.send("x" * (node.settings.max_frame_bytes * 2))
    assert await c.wait_closed() == 4009
    c2 = await client(node)
    await c2.ws.send(json.dumps({"type": "ping", "ref": 1, "pad": "y" * 3000}))  # under the limit
    assert (await c2.next_event("ok"))["ref"] == 1  # sent raw: the reply arrives as an event
    assert (await c2.request("ping"))["type"] == "ok"
    await c2.close()


async def test_flooding_closes_4029(node: RunningServer) -> None:
    c = await client(node)
    try:
        for _ in range(400):
            await c.ws.send('{"type":"ping"}')
    except ConnectionClosed:
        pass
    assert await c.wait_closed() == 4029
    ok = await client(node)
    assert (await ok.request("ping"))["type"] == "ok"
    await ok.close()


# -- rooms and access ---------------------------------------------------------------------------


async def test_community_rooms_follow_read_policy(server: RunningServer) -> None:
    async with people(server, "owner", "member", "stranger") as (owner, member, stranger):
        public = await make_community(owner)
        private = await make_community(owner, name="hidden", read_policy="members")
        await add_member(owner, private, member)
        c_member = await client(server, member.id)
        c_stranger = await client(server, stranger.id)
        try:
            ok = await c_stranger.request("room.join", room=f"community:{public['id']}")
            assert ok["room"] == f"community:{public['id']}" and ok["history"] == [] and ok["seq"] == 0
            with pytest.raises(RequestFailed) as caught:
                await c_stranger.request("room.join", room=f"community:{private['id']}")
            assert caught.value.code == "not_found"
            with pytest.raises(RequestFailed) as caught:
                await c_stranger.request("room.join", room="community:nope")
            assert caught.value.code == "not_found"
            assert (await c_member.request("room.join", room=f"community:{private['id']}"))["type"] == "ok"
            with pytest.raises(RequestFailed) as caught:
                await c_member.request("chat.send", room=f"community:{private['id']}", text="hi")
            assert caught.value.code == "invalid_request"
            left = await c_member.request("room.leave", room=f"community:{private['id']}")
            assert left["room"] == f"community:{private['id']}"
        finally:
            await c_member.close()
            await c_stranger.close()


async def test_group_rooms_are_for_group_members(server: RunningServer) -> None:
    async with people(server, "owner", "in", "out") as (owner, inside, outside):
        community = await make_community(owner)
        for p in (inside, outside):
            await add_member(owner, community, p)
        group = await owner.ok("POST", f"/v1/communities/{community['id']}/groups", 201, json={"name": "g"})
        await inside.ok("POST", f"/v1/groups/{group['id']}/join")
        c_in, c_out = await client(server, inside.id), await client(server, outside.id)
        try:
            assert (await c_in.request("room.join", room=f"group:{group['id']}"))["type"] == "ok"
            with pytest.raises(RequestFailed) as caught:
                await c_out.request("room.join", room=f"group:{group['id']}")
            assert caught.value.code == "forbidden"
            with pytest.raises(RequestFailed) as caught:
                await c_out.request("room.join", room="group:missing")
            assert caught.value.code == "not_found"
        finally:
            await c_in.close()
            await c_out.close()


async def test_announcements_reach_members_of_the_named_groups_only(server: RunningServer) -> None:
    async with people(server, "owner", "g1member", "plain", "reader") as (owner, g1m, plain, reader):
        community = await make_community(owner)
        cid = community["id"]
        for p in (g1m, plain):
            await add_member(owner, community, p)
        group = await owner.ok("POST", f"/v1/communities/{cid}/groups", 201, json={"name": "g1"})
        await g1m.ok("POST", f"/v1/groups/{group['id']}/join")
        clients = {p.name: await client(server, p.id) for p in (owner, g1m, plain, reader)}
        try:
            for c in clients.values():
                await c.request("room.join", room=f"community:{cid}")
            await owner.ok("POST", f"/v1/communities/{cid}/announcements", 201,
                           json={"text": "for g1", "group_ids": [group["id"]]})
            await owner.ok("POST", f"/v1/communities/{cid}/announcements", 201, json={"text": "for all"})
            got = await clients["g1member"].next_event("announcement")
            assert got["text"] == "for g1" and got["community_id"] == cid and got["group_ids"] == [group["id"]]
            assert (await clients["g1member"].next_event("announcement"))["text"] == "for all"
            assert (await clients["plain"].next_event("announcement"))["text"] == "for all"
            assert (await clients["owner"].next_event("announcement"))["text"] == "for all"
            # the reader (not a member) hears the live tab's events but no announcements
            await server.services.events.emit("live.started", {"community_id": cid, "live": {"id": "L1"}})
            event = await clients["reader"].next_event()
            assert event == {"type": "live.started", "community_id": cid, "live": {"id": "L1"}}
        finally:
            for c in clients.values():
                await c.close()


# -- moderation across the gateway --------------------------------------------------------------


async def test_ban_closes_4003_with_a_notice_and_holds(server: RunningServer) -> None:
    async with people(server, "owner", "mod", "carol", "dave") as (owner, mod, carol, dave):
        community = await make_community(owner)
        cid = community["id"]
        await add_member(owner, community, mod, "moderator")
        await add_member(owner, community, carol)
        await add_member(owner, community, dave)
        c_carol, c_dave = await client(server, carol.id), await client(server, dave.id)
        elsewhere = await client(server, carol.id)  # carol's other socket, in no room of this community
        await c_carol.request("room.join", room=f"community:{cid}")
        await c_dave.request("room.join", room=f"community:{cid}")
        await mod.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                     json={"action": "ban", "user_id": carol.id, "reason": "spam"})
        notice = await c_carol.next_event("moderation.notice")
        assert notice == {"type": "moderation.notice", "community_id": cid, "action": "ban",
                          "reason": "spam", "until": None}
        assert await c_carol.wait_closed() == 4003
        assert (await elsewhere.next_event("moderation.notice"))["action"] == "ban"
        assert (await elsewhere.request("ping"))["type"] == "ok"  # not in that community's rooms
        fresh = await LiveClient.connect(server.url, server.token(carol.id, "carol", ttl=120))
        with pytest.raises(RequestFailed) as caught:
            await fresh.request("room.join", room=f"community:{cid}")
        assert caught.value.code == "banned"
        assert (await c_dave.request("ping"))["type"] == "ok"  # everyone else unaffected
        log = await dave.ok("GET", f"/v1/communities/{cid}/moderation/log")
        assert any(e["action"] == "ban" and e["reason"] == "spam" for e in log["items"])
        for c in (fresh, elsewhere, c_dave):
            await c.close()


async def test_kick_removes_from_rooms_with_room_closed(server: RunningServer) -> None:
    async with people(server, "owner", "erin") as (owner, erin):
        community = await make_community(owner)
        cid = community["id"]
        await add_member(owner, community, erin)
        c = await client(server, erin.id)
        try:
            await c.request("room.join", room=f"community:{cid}")
            await owner.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                           json={"action": "kick", "user_id": erin.id, "reason": "cool off"})
            assert (await c.next_event("moderation.notice"))["action"] == "kick"
            assert await c.next_event("room.closed") == {"type": "room.closed", "room": f"community:{cid}",
                                                         "reason": "kicked"}
            assert (await c.request("ping"))["type"] == "ok"
            await gateway(server).publish_room(f"community:{cid}", {"type": "x.after"})
            with pytest.raises(TimeoutError):
                await c.next_event("x.after", timeout=0.5)
        finally:
            await c.close()


# -- the outgoing side: batching, backpressure, heartbeats ---------------------------------------


async def test_events_queued_together_go_out_as_one_frame(node: RunningServer) -> None:
    async with people(node, "owner") as (owner,):
        community = await make_community(owner)
        room = f"community:{community['id']}"
        c = await client(node, owner.id, "msgpack")
        try:
            await c.request("room.join", room=room)
            before = c.frames
            gateway(node).hub.fanout(room, [{"type": "x.burst", "n": i} for i in range(50)])
            got = [await c.next_event("x.burst") for _ in range(50)]
            assert [e["n"] for e in got] == list(range(50))
            assert c.frames - before < 50  # batched: fewer frames than messages
        finally:
            await c.close()


async def test_a_client_that_stops_reading_is_closed_4008_others_keep_receiving(node: RunningServer) -> None:
    async with people(node, "owner") as (owner,):
        community = await make_community(owner)
        room = f"community:{community['id']}"
        fast = await client(node, owner.id)
        await fast.request("room.join", room=room)
        # Small fixed buffers on both ends: what the kernel holds for the paused reader is known
        # (autotuned, a server send buffer can grow past all 24 MB this test sends: no 4008).
        sock = client_socket(4096)
        sock.connect(("127.0.0.1", int(node.url.rsplit(":", 1)[1])))
        slow = await connect(ws_url(node.url, node.token(uid("slow"))), sock=sock, max_queue=1,
                             max_size=None)
        await slow.recv()  # welcome
        gw = gateway(node)
        slow_conn = next(c for c in gw.connections if c.user_id != owner.id)
        small_buffers(server_side(slow_conn))
        await slow.send(json.dumps({"type": "room.join", "room": room, "ref": 1}))
        await slow.recv()  # the join's reply; from here on, it never reads
        blob = "z" * 8000
        received = 0
        for i in range(3000):
            await gw.publish_room(room, {"type": "x.blob", "n": i, "blob": blob})
            while received <= i:  # the fast client keeps up (its own cap is small too)
                event = await fast.next_event("x.blob")
                received = event["n"] + 1
            if slow_conn.close_code is not None:
                break
        assert slow_conn.close_code == 4008
        for i in range(3):  # others keep receiving
            await gw.publish_room(room, {"type": "x.after", "n": i})
        for i in range(3):
            assert (await fast.next_event("x.after"))["n"] == i
        # the slow client, reading at last, finds the close code after its backlog
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(slow.recv(), 15)
        assert slow.protocol.close_rcvd is not None and slow.protocol.close_rcvd.code == 4008
        await fast.close()


async def test_heartbeat_pings_and_dead_peers_are_dropped(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, heartbeat_seconds=1)) as srv:
        async with connect(ws_url(srv.url, srv.token("hb"))) as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
            assert json.loads(await asyncio.wait_for(ws.recv(), 3)) == {"type": "ping"}
        gw = gateway(srv)
        # a peer that completes the handshake and then goes silent (answers no pings)
        raw = socket.create_connection(("127.0.0.1", srv.settings.port))
        path = ws_url(srv.url, srv.token("dead")).split("://", 1)[1].split("/", 1)[1]
        raw.sendall((f"GET /{path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        raw.setblocking(False)
        deadline = time.monotonic() + 3
        while not any(c.user_id == "dead" for c in gw.connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert any(c.user_id == "dead" for c in gw.connections)
        deadline = time.monotonic() + 8
        while any(c.user_id == "dead" for c in gw.connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not any(c.user_id == "dead" for c in gw.connections)
        raw.close()


async def test_metrics_name_the_gateway(node: RunningServer) -> None:
    c = await client(node)
    await c.request("ping")
    text = await node.metrics()
    for name in ("live_ws_connections", "live_rooms", "live_ws_messages_in_total",
                 "live_ws_messages_out_total", "live_fanout_lag_seconds_bucket",
                 "live_ws_slow_consumers_total"):
        assert name in text, name
    await c.close()


class _BrokenMedia:
    """A media service with a bug (the way tests/support/boom.py has failing routes)."""

    async def publish(self, room: str, user: Any, sdp: str) -> str:
        raise RuntimeError("a bug in a service")


async def test_a_bug_in_a_service_closes_1011_and_the_server_stays_up(node: RunningServer) -> None:
    async with people(node, "owner") as (owner,):
        community = await make_community(owner)
        requests = node.services.gateway.requests  # what the gateway routes media.publish to
        saved = requests.media
        requests.media = _BrokenMedia()  # type: ignore[assignment]
        try:
            c = await client(node, owner.id)
            await c.request("room.join", room=f"community:{community['id']}")
            with pytest.raises((RequestFailed, Closed)) as caught:
                await c.request("media.publish", room=f"community:{community['id']}", sdp="v=0")
            if isinstance(caught.value, RequestFailed):
                assert caught.value.code == "internal"
            assert await c.wait_closed() == 1011
        finally:
            requests.media = saved
        other = await client(node)
        assert (await other.request("ping"))["type"] == "ok"
        await other.close()
