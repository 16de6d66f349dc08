"""WebSocket limits against real servers and sockets: sockets per user (one node and two over
Redis), rooms per connection, the join/leave rate, the history a join carries, requests in flight."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import msgpack
import pytest

from live.client import LiveClient, RequestFailed
from live.signaling.codec import Encoding, encode_one
from tests.support.communities import Person, make_community, people
from tests.support.servers import RunningServer, run_server, settings, uid
from tests.support.waiting import eventually, poll


async def connect(server: RunningServer, user_id: str, encoding: str = "json") -> LiveClient:
    return await LiveClient.connect(server.url, server.token(user_id, user_id), encoding)


def limited(server: RunningServer, limit: str) -> float:
    """The node's `live_ws_limited_total{limit}` (the process registry is shared by the test's servers)."""
    from live.rooms.metrics import LIMITED

    return LIMITED.labels(limit)._value.get()  # type: ignore[attr-defined,no-any-return]


@contextlib.asynccontextmanager
async def closing(*clients: LiveClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for c in clients:
            await c.close()


# -- sockets per user ---------------------------------------------------------------------------


async def test_the_oldest_socket_of_a_user_gives_way_with_4029(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, max_sockets_per_user=3)) as node:
        user, other = uid("phone"), uid("other")
        before = limited(node, "sockets_per_user")
        socks = [await connect(node, user) for _ in range(3)]
        bystander = await connect(node, other)
        async with closing(*socks, bystander):
            fourth = await connect(node, user)  # a flaky phone reconnecting: it gets in
            socks.append(fourth)
            assert await socks[0].wait_closed() == 4029
            assert "replaced" in socks[0].close_reason
            for c in socks[1:]:
                assert (await c.request("ping"))["type"] == "ok"
            fifth = await connect(node, user)
            socks.append(fifth)
            assert await socks[1].wait_closed() == 4029
            for c in socks[2:]:
                assert (await c.request("ping"))["type"] == "ok"
            assert (await bystander.request("ping"))["type"] == "ok"  # another user is not counted
            gateway = node.services.gateway
            assert len(gateway.hub.users[user]) == 3
            assert limited(node, "sockets_per_user") - before == 2


async def test_sockets_per_user_are_counted_across_nodes(
    postgres_url: str | None, redis_url: str, redis_prefix: str
) -> None:
    if postgres_url is None:
        pytest.skip("PostgreSQL is not reachable (see the banner at the end of the run)")
    cfg = settings(database_url=postgres_url, redis_url=redis_url, redis_prefix=redis_prefix,
                   max_sockets_per_user=3)
    async with run_server(cfg) as a, run_server(cfg) as b:
        user = uid("roamer")
        a1, a2 = await connect(a, user), await connect(a, user)
        b1 = await connect(b, user)
        async with closing(a1, a2, b1):
            b2 = await connect(b, user)  # the fourth, on the other node: A's oldest gives way
            assert await a1.wait_closed() == 4029
            b3 = await connect(b, user)
            assert await a2.wait_closed() == 4029
            async with closing(b2, b3):
                for c in (b1, b2, b3):
                    assert (await c.request("ping"))["type"] == "ok"
                redis = b.services.bus.client
                key = f"{redis_prefix}sockets:{user}"
                assert await redis.zcard(key) == 3
            # closed sockets leave the count (as soon as their node has seen them go)
            async def one_left() -> bool:
                return bool(await redis.zcard(key) == 1)

            await poll(one_left, 10)
            assert await redis.zcard(key) == 1


# -- rooms per connection, join rate --------------------------------------------------------------


async def test_rooms_per_connection_are_capped_with_conflict(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, max_rooms_per_connection=3,
                                   community_limit=5)) as node:
        async with people(node, "owner") as (owner,):
            rooms = [f"community:{(await make_community(owner, name=f'c{i}'))['id']}" for i in range(4)]
            c = await connect(node, uid("viewer"))
            async with closing(c):
                for room in rooms[:3]:
                    await c.request("room.join", room=room)
                before = limited(node, "rooms_per_connection")
                with pytest.raises(RequestFailed) as caught:
                    await c.request("room.join", room=rooms[3])
                assert caught.value.code == "conflict" and "leave one" in caught.value.reply["message"]
                assert limited(node, "rooms_per_connection") - before == 1
                assert (await c.request("room.join", room=rooms[0]))["room"] == rooms[0]  # a rejoin: fine
                await c.request("room.leave", room=rooms[0])
                assert (await c.request("room.join", room=rooms[3]))["room"] == rooms[3]
                gateway = node.services.gateway
                [conn] = gateway.hub.users[c.welcome["user"]["id"]]
                assert set(conn.seats) == set(rooms[1:])


async def test_joins_and_leaves_are_rate_limited_with_retry_after(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, join_rate=0.5, join_burst=6)) as node:
        async with people(node, "owner") as (owner,):
            room = f"community:{(await make_community(owner))['id']}"
            c = await connect(node, uid("looper"))
            async with closing(c):
                for _ in range(3):
                    await c.request("room.join", room=room)
                    await c.request("room.leave", room=room)
                with pytest.raises(RequestFailed) as caught:
                    await c.request("room.join", room=room)
                assert caught.value.code == "rate_limited"
                assert 0 < caught.value.retry_after <= 2.0
                with pytest.raises(RequestFailed) as caught:
                    await c.request("room.leave", room=room)
                assert caught.value.code == "rate_limited"
                assert (await c.request("ping"))["type"] == "ok"  # the connection stays
                await asyncio.sleep(caught.value.retry_after)  # what the server said to wait
                assert (await c.request("room.join", room=room))["room"] == room


# -- the history a join carries -------------------------------------------------------------------


async def _chatty_live(node: RunningServer, host: Person, count: int, text: str) -> tuple[str, list[int]]:
    community = await make_community(host)
    live = await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
    room = live["room"]
    talker = await connect(node, host.id)
    seqs = []
    async with closing(talker):
        for i in range(count):
            seqs.append((await talker.request("chat.send", room=room, text=f"{i:04d} {text}", nonce=f"n{i}"))["seq"])
    return room, seqs


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
async def test_join_leave_loops_pull_bounded_history(sqlite_url: str, encoding: str) -> None:
    """The issue's finding: join/leave loops on a room with history pushed 123 MB in 15 s."""
    cap, burst = 16384, 8
    async with run_server(settings(database_url=sqlite_url, chat_rate=1000, chat_burst=1000,
                                   join_history_bytes=cap, join_burst=burst, join_rate=0.01)) as node:
        async with people(node, "host") as (host,):
            room, seqs = await _chatty_live(node, host, 120, "x" * 400)
            epoch = None
            c = await connect(node, uid("leech"), encoding)
            async with closing(c):
                joined = refused = 0
                for _ in range(40):
                    try:
                        ok = await c.request("room.join", room=room, since={"epoch": epoch or "", "seq": 0})
                    except RequestFailed as exc:
                        assert exc.code == "rate_limited" and exc.retry_after > 0
                        refused += 1
                        continue
                    joined += 1
                    epoch = ok["epoch"]
                    size = sum(len(encode_one(m, Encoding.MSGPACK)) for m in ok["history"])
                    assert 0 < size <= cap
                    assert ok["recovered"] is False  # 120 messages of 400 bytes do not fit: reload
                    assert [m["seq"] for m in ok["history"]] == seqs[-len(ok["history"]):]  # the newest
                    try:
                        await c.request("room.leave", room=room)
                    except RequestFailed as exc:
                        assert exc.code == "rate_limited"
                        refused += 1
                assert 0 < joined <= burst and refused >= 40 - burst


async def test_a_recovery_that_fits_is_still_complete(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, chat_rate=1000, chat_burst=1000,
                                   join_history_bytes=16384)) as node:
        async with people(node, "host") as (host,):
            room, seqs = await _chatty_live(node, host, 60, "y" * 400)
            c = await connect(node, uid("back"))
            async with closing(c):
                latest = await c.request("room.join", room=room)
                again = await c.request("room.join", room=room, since={"epoch": latest["epoch"], "seq": seqs[-5]})
                assert again["recovered"] is True
                assert [m["seq"] for m in again["history"]] == seqs[-4:]


async def test_join_history_bytes_is_kept_under_half_the_send_queue(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, send_queue_bytes=32768,
                                   join_history_bytes=1 << 20)) as node:
        assert node.services.gateway.history_bytes == 16384


# -- requests in flight ---------------------------------------------------------------------------


async def test_requests_in_flight_are_capped_with_rate_limited(
    sqlite_url: str, redis_url: str, redis_prefix: str
) -> None:
    """A media worker that stopped answering holds every negotiation sent to it for its RPC
    timeout: a client firing offers would pile up tasks; past the cap they are refused at once."""
    cfg = settings(database_url=sqlite_url, redis_url=redis_url, redis_prefix=redis_prefix,
                   media_workers=True, max_requests_in_flight=3)
    async with run_server(cfg) as node:
        redis = node.services.bus.client
        await redis.set(f"{redis_prefix}media:worker:hung", json.dumps({"load": 0}), px=60_000)
        async with people(node, "host") as (host,):
            community = await make_community(host)
            live = await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
            c = await connect(node, host.id, "msgpack")
            try:
                await c.request("room.join", room=live["room"])
                before = limited(node, "requests_in_flight")
                for ref in range(100, 104):
                    await c.ws.send(msgpack.packb({"type": "media.publish", "ref": ref, "room": live["room"],
                                                   "sdp": "v=0"}))
                refused = await c.next_event("error")  # replies to no pending `request` come as events
                assert refused["ref"] == 103 and refused["code"] == "rate_limited" and refused["retry_after"] > 0
                assert (await c.request("ping"))["type"] == "ok"
                assert limited(node, "requests_in_flight") - before == 1
            finally:
                await c.close()
                await redis.delete(f"{redis_prefix}media:worker:hung")


@pytest.mark.postgres
async def test_events_held_during_a_slow_join_count_against_the_backlog_cap(postgres_url: str | None) -> None:
    """Events of a room that arrive while a join is in flight wait for its reply; a join held up
    (here: the test holds the chat room's row lock, which the join's history read waits for) in a
    busy room must not pile them up without bound: they count like a backlog, 4008 past the cap."""
    import asyncpg

    if postgres_url is None:
        pytest.skip("PostgreSQL is not reachable (see the banner at the end of the run)")
    async with run_server(settings(database_url=postgres_url, send_queue_bytes=16384)) as node:
        async with people(node, "host") as (host,):
            room, _ = await _chatty_live(node, host, 1, "first")
            gateway = node.services.gateway
            viewer = uid("viewer")
            c = await connect(node, viewer)
            pg = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
            lock = pg.transaction()
            await lock.start()
            try:
                await pg.execute("SELECT 1 FROM chat_rooms WHERE room = $1 FOR UPDATE", room)
                join = asyncio.create_task(c.request("room.join", room=room, timeout=30))
                await eventually(  # the seat is there and holds events back until the reply
                    lambda: any(room in conn.seats and conn.seats[room].pending is not None
                                for conn in gateway.hub.users.get(viewer, set())), what="a seat holding events")
                for i in range(20):
                    await gateway.publish_room(room, {"type": "x.busy", "room": room, "n": i, "pad": "z" * 1000})
                assert await c.wait_closed() == 4008
                assert "join" in c.close_reason
                with pytest.raises(Exception):  # noqa: B017 - it fails with the connection, whichever way
                    await join
            finally:
                await lock.rollback()
                await pg.close()
                await c.close()
