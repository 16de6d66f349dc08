"""How the gateway writes to sockets: the flusher's synchronous writes (`live.send_now`), the
writer task for backlogs and for servers without the extension, and the heartbeat `ping`."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from live.client import LiveClient, ws_url
from live.signaling.connection import Connection
from tests.support.clock import ManualClock
from tests.support.communities import add_member, make_community, people
from tests.support.servers import RunningServer, run_server, settings, uid
from tests.support.sockets import client_socket, server_side, small_buffers
from tests.support.waiting import eventually, poll


def connections(server: RunningServer) -> list[Connection]:
    return list(server.services.gateway.connections)


async def one_connection(server: RunningServer, user_id: str) -> Connection:
    def found() -> Connection | None:
        return next((c for c in connections(server) if c.user_id == user_id), None)

    conn: Connection = await eventually(found, 10, what=f"a connection of {user_id}")
    return conn


@pytest.fixture
def fast(sqlite_server: RunningServer) -> RunningServer:
    """What `live serve` runs: the protocol with `live.send_now`."""
    return sqlite_server


@pytest.fixture
async def plain(sqlite_url: str) -> AsyncIterator[RunningServer]:
    """uvicorn's own sans-I/O protocol: no `live.send_now`, every frame through the writer."""
    async with run_server(settings(database_url=sqlite_url), ws="websockets-sansio") as running:
        yield running


async def test_live_serve_offers_the_synchronous_write(fast: RunningServer) -> None:
    who = uid("f")
    async with connect(ws_url(fast.url, fast.token(who))) as ws:
        await ws.recv()  # welcome
        conn = await one_connection(fast, who)
        assert conn._send_now is not None
        assert conn._writer is None  # no task of its own while the socket keeps up


async def test_what_one_loop_iteration_queues_goes_out_as_one_frame(fast: RunningServer) -> None:
    who = uid("b")
    async with connect(ws_url(fast.url, fast.token(who))) as ws:
        await ws.recv()  # welcome
        conn = await one_connection(fast, who)
        for i in range(3):
            conn.send({"type": "ping", "n": i})  # same iteration: one flush, one frame
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame == [{"type": "ping", "n": 0}, {"type": "ping", "n": 1}, {"type": "ping", "n": 2}]
        conn.send({"type": "ping", "n": 3})
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ping", "n": 3}


async def test_a_backlog_the_socket_cannot_take_goes_through_the_writer_in_order(sqlite_url: str) -> None:
    """A client that pauses reading fills the socket; the rest waits in the outbox, in order."""
    async with run_server(settings(database_url=sqlite_url, send_queue_bytes=32 << 20)) as srv:
        await _backlog_in_order(srv)


def _small_socket(url: str) -> socket.socket:
    """A client socket with small, fixed buffers (no autotuning): how much the kernel holds for a
    reader that pauses is then known, whatever the machine's tcp_rmem says."""
    host, port = url.removeprefix("http://").split(":")
    sock = client_socket()
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def _backlog_in_order(fast: RunningServer) -> None:
    who = uid("p")
    n = 400  # 8 MB: far more than the two small socket buffers below hold, less than the cap
    async with connect(ws_url(fast.url, fast.token(who)), max_size=None, sock=_small_socket(fast.url)) as ws:
        await ws.recv()  # welcome
        conn = await one_connection(fast, who)
        small_buffers(server_side(conn))  # the server's side of the socket too
        pad = "x" * 20_000
        for i in range(n):
            conn.send({"type": "ping", "n": i, "pad": pad})
            await asyncio.sleep(0)
        await poll(lambda: conn._writer is not None, 5)
        assert conn._writer is not None, "the paused socket should have handed the backlog to a writer"
        seen: list[int] = []
        while len(seen) < n:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            seen += [m["n"] for m in (frame if isinstance(frame, list) else [frame])]
        assert seen == list(range(n))
        await poll(lambda: conn._writer is None, 5)
        assert conn._writer is None  # backlog gone: back to synchronous writes
        conn.send({"type": "ping", "n": n})
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["n"] == n


async def test_without_the_extension_everything_still_works(plain: RunningServer) -> None:
    async with people(plain, "owner", "member") as (owner, member):
        community = await make_community(owner)
        await add_member(owner, community, member)
        group = await owner.ok("POST", f"/v1/communities/{community['id']}/groups", 201, json={"name": "g"})
        for p in (owner, member):
            await p.ok("POST", f"/v1/groups/{group['id']}/join")
        room = f"group:{group['id']}"
        a = await LiveClient.connect(plain.url, plain.token(owner.id, "Owner"), "msgpack")
        b = await LiveClient.connect(plain.url, plain.token(member.id, "Member"), "json")
        try:
            conn = await one_connection(plain, owner.id)
            assert conn._send_now is None and conn._writer is not None
            await a.request("room.join", room=room)
            await b.request("room.join", room=room)
            for i in range(5):
                await a.request("chat.send", room=room, text=f"m{i}")
            got: list[str] = []
            while len(got) < 5:
                event = await b.next_event("chat.message", timeout=5)
                got.append(event["text"])
            assert got == [f"m{i}" for i in range(5)]
            await b.ws.send("x" * (plain.settings.max_frame_bytes + 1))
            assert await b.wait_closed() == 4009
        finally:
            await a.close()
            await b.close()


async def test_an_idle_connection_gets_a_ping_each_heartbeat(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, heartbeat_seconds=1)) as srv:
        async with connect(ws_url(srv.url, srv.token(uid("i")))) as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
            got: Any = json.loads(await asyncio.wait_for(ws.recv(), 4))
            assert got == {"type": "ping"}


async def test_the_protocols_inbox_keeps_order_and_wakes_its_reader() -> None:
    from live.signaling.wire import Inbox

    inbox = Inbox()
    assert inbox.empty() and inbox.qsize() == 0
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait({"n": 1})
    inbox.put_nowait({"n": 2})
    assert await asyncio.wait_for(reader, 1) == {"n": 1}
    assert inbox.qsize() == 1 and await inbox.get() == {"n": 2} and inbox.empty()


class FlushRecorder:
    """Stands in for a connection in the flusher: records the loop time of each flush."""

    user_id = "f"

    def __init__(self) -> None:
        self.flushed: list[float] = []

    def flush_now(self, now: float, loop_now: float) -> tuple[int, int, float]:
        self.flushed.append(loop_now)
        return 1, 1, now


def test_a_busy_node_flushes_at_most_once_per_write_interval() -> None:
    """(More cases: tests/test_fanout_tables.py.) Time from a manual clock: no sleeps."""
    from live.signaling.connection import Flusher

    clock = ManualClock(1000.0)
    flusher = Flusher(0.3, clock)
    conn: Any = FlushRecorder()
    flusher.mark(conn)  # after a quiet spell: the next loop iteration
    clock.advance()
    assert conn.flushed == [1000.0]
    flusher.mark(conn)  # right after a flush: waits for the rest of the interval
    clock.advance(0.2)
    assert len(conn.flushed) == 1
    clock.advance(0.1)
    assert len(conn.flushed) == 2 and conn.flushed[1] - conn.flushed[0] == pytest.approx(0.3)
    clock.advance(0.35)  # quiet for longer than the interval: at once again
    flusher.mark(conn)
    clock.advance()
    assert len(conn.flushed) == 3 and conn.flushed[2] - conn.flushed[1] == pytest.approx(0.35)
    no_wait = Flusher(0, clock)  # 0: every loop iteration, as before
    for _ in range(3):
        no_wait.mark(conn)
        clock.advance()
    assert len(conn.flushed) == 6


async def test_messages_within_the_write_interval_share_a_frame(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, write_interval_ms=500)) as srv:
        who = uid("w")
        async with connect(ws_url(srv.url, srv.token(who))) as ws:
            await ws.recv()  # welcome
            conn = await one_connection(srv, who)
            from live.signaling.gateway import WRITE_BURST

            for n in range(-int(WRITE_BURST), 0):  # the burst: each message at once, in a frame of its own
                conn.send({"type": "ping", "n": n})
                assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ping", "n": n}
            conn.send({"type": "ping", "n": 0})  # the bucket is empty: this one waits for the interval
            await asyncio.sleep(0.05)  # under test: later loop iterations within the 500 ms interval
            conn.send({"type": "ping", "n": 1})  # later iterations, the same interval
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame == [{"type": "ping", "n": 0}, {"type": "ping", "n": 1}]


async def test_a_room_event_is_written_to_every_socket_as_the_same_frame(fast: RunningServer) -> None:
    """Prepared frames: the hub's batch is framed once, and each socket whose backlog is that batch
    alone is written those very bytes (no join, no framing per recipient)."""
    async with people(fast, "host", "viewer") as (host, viewer):
        community = await make_community(host)
        await add_member(host, community, viewer)
        room = f"community:{community['id']}"
        clients = [await LiveClient.connect(fast.url, fast.token(p.id)) for p in (host, viewer)]
        try:
            for c in clients:
                await c.request("room.join", room=room)
            written: list[bytes] = []
            for person in (host, viewer):
                conn = await one_connection(fast, person.id)
                real = conn._send_now
                assert real is not None

                def recording(frame: bytes, real: Any = real) -> bool:
                    written.append(frame)
                    return bool(real(frame))

                conn._send_now = recording
            await fast.services.gateway.publish_room(room, {"type": "x.hello", "n": 1})
            for c in clients:
                assert (await c.next_event("x.hello"))["n"] == 1
            assert len(written) == 2 and written[0] is written[1]
        finally:
            for c in clients:
                await c.close()
