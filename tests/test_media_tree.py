"""One live's viewers spread over several media processes (the relay tree), with real processes and
real aiortc peers: placement, every viewer decoding moving frames, an edge dying, a pipe stalling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from live.client import LiveClient
from live.media.frames import Frame
from live.media.peers import Subscriber
from live.media.pipe import ERROR, FRAME, HEADER, HELLO, PipeServer, PipeSink, _read, feed_token, pipe_key
from live.media.relay import Relay
from tests.support.communities import add_member, make_community, people
from tests.support.media import connect, feeds, publish, watch
from tests.support.servers import RunningServer, run_server
from tests.support.waiting import eventually, poll


@pytest.fixture
async def tree_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    from tests.support.servers import settings

    cfg = settings(database_url=sqlite_url, var_dir=str(tmp_path), media_processes=3, media_viewers_per_worker=2,
                   thumbnail_seconds=0, recording=False, media_pipe_buffer_bytes=64 * 1024)
    async with run_server(cfg) as running:
        yield running


class Live:
    """A live with a publishing host and `n` viewers, each on their own WebSocket."""

    def __init__(self) -> None:
        self.room = ""
        self.host_id = ""
        self.host: LiveClient | None = None
        self.pc: Any = None
        self.viewers: list[tuple[str, LiveClient, Subscriber]] = []

    async def close(self) -> None:
        for _, client, sub in self.viewers:
            await sub.close()
            await client.close()
        if self.pc is not None:
            await self.pc.close()
        if self.host is not None:
            await self.host.close()


@contextlib.asynccontextmanager
async def live_with_viewers(server: RunningServer, n: int) -> AsyncIterator[Live]:
    names = ["alice", *(f"v{i}" for i in range(n))]
    async with people(server, *names) as crowd:
        alice, audience = crowd[0], crowd[1:]
        community = await make_community(alice)
        for person in audience:
            await add_member(alice, community, person)
        created = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "tree"})
        live = Live()
        live.room, live.host_id = created["room"], alice.id
        try:
            live.host = await connect(server, alice)
            live.pc = await publish(live.host, live.room)
            for person in audience:
                client = await connect(server, person)
                await client.request("room.join", room=live.room)
                live.viewers.append((person.id, client, await watch(client, live.room)))
            yield live
        finally:
            await live.close()


def _moving(sub: Subscriber, frames: int) -> bool:
    return sub.received.frames["video"] >= frames and len(sub.received.pictures) >= 3


async def test_a_lives_viewers_spread_over_three_processes_and_all_decode_moving_frames(
        tree_server: RunningServer) -> None:
    server = tree_server
    async with live_with_viewers(server, 6) as live:
        subs = [sub for _, _, sub in live.viewers]
        assert await poll(lambda: all(_moving(s, 20) for s in subs), 30), [s.received.frames for s in subs]
        for sub in subs:
            assert sub.received.sizes == {(320, 180)}
        placed = await feeds(server, live.room, live.host_id)
        assert len(placed) == 3, placed
        assert sorted(f["subscribers"] for f in placed.values()) == [2, 2, 2]
        origins = [wid for wid, f in placed.items() if f["origin"]]
        assert len(origins) == 1
        # the origin sends each frame once per edge: its video source feeds 2 viewers and 2 pipes
        assert placed[origins[0]]["sources"]["video"]["consumers"] == 4
        # the edges' keyframe requests reached the origin's source, through its throttle
        origin_video = placed[origins[0]]["sources"]["video"]
        assert origin_video["pli_sent"] <= origin_video["pli_requested"]
        pids = server.services.media.local.pids()
        assert len(pids) == 3 and os.getpid() not in pids.values()


async def test_killing_an_edge_moves_only_its_viewers(tree_server: RunningServer) -> None:
    server = tree_server
    media = server.services.media
    async with live_with_viewers(server, 6) as live:
        subs = {uid: sub for uid, _, sub in live.viewers}
        clients = {uid: client for uid, client, _ in live.viewers}
        await eventually(lambda: all(_moving(s, 10) for s in subs.values()), 30)
        placed = await feeds(server, live.room, live.host_id)
        edge = next(wid for wid, f in placed.items() if not f["origin"])
        on_edge = {uid for (room, _, uid), wid in media.cluster.placed.items() if wid == edge and room == live.room}
        assert len(on_edge) == 2
        os.kill(media.local.pids()[edge], signal.SIGKILL)

        for uid in on_edge:
            restart = await clients[uid].next_event("media.restart", room=live.room, timeout=15)
            assert restart["publisher"] == live.host_id
        # the others were not told, and their pictures never stopped
        others = [uid for uid in subs if uid not in on_edge]
        before = {uid: subs[uid].received.frames["video"] for uid in others}
        await eventually(lambda: all(subs[u].received.frames["video"] >= before[u] + 30 for u in others), 15)
        for uid in others:
            with pytest.raises(asyncio.TimeoutError):
                await clients[uid].next_event("media.restart", room=live.room, timeout=0.2)
        # the moved viewers negotiate again and watch on from a live process
        for uid in on_edge:
            await subs[uid].close()
            subs[uid] = await watch(clients[uid], live.room)
        await eventually(lambda: all(_moving(subs[u], 10) for u in on_edge), 30)
        for uid in on_edge:
            assert media.cluster.placed[(live.room, live.host_id, uid)] != edge
        for sub in subs.values():
            await sub.close()


async def test_a_stalled_edge_slows_nobody_and_its_viewers_resume(tree_server: RunningServer) -> None:
    server = tree_server
    media = server.services.media
    async with live_with_viewers(server, 6) as live:
        subs = {uid: sub for uid, _, sub in live.viewers}
        await eventually(lambda: all(_moving(s, 10) for s in subs.values()), 30)
        placed = await feeds(server, live.room, live.host_id)
        edge = next(wid for wid, f in placed.items() if not f["origin"])
        on_edge = {uid for (room, _, uid), wid in media.cluster.placed.items() if wid == edge and room == live.room}
        others = [uid for uid in subs if uid not in on_edge]
        pid = media.local.pids()[edge]
        os.kill(pid, signal.SIGSTOP)  # the edge (and so its pipe) stops reading
        try:
            before = {uid: subs[uid].received.frames["video"] for uid in others}
            # Everyone else goes on while the edge is stalled (a viewer held up by it would get none):
            # 45 frames, 1.5 s at the publisher's 30 fps, within 8 s (the parallel suite's 2 cores
            # once took longer than 3 s to decode them).
            await eventually(lambda: all(subs[uid].received.frames["video"] - before[uid] >= 45 for uid in others),
                             8, what="45 frames for each viewer off the stalled edge")
        finally:
            os.kill(pid, signal.SIGCONT)
        stalled = {uid: subs[uid].received.frames["video"] for uid in on_edge}
        await eventually(lambda: all(subs[u].received.frames["video"] >= stalled[u] + 30 for u in on_edge), 20)


# -- the pipe, piece by piece ---------------------------------------------------------------------


class _Transport:
    def __init__(self) -> None:
        self.buffered = 0

    def get_write_buffer_size(self) -> int:
        return self.buffered


class _Writer:
    def __init__(self) -> None:
        self.transport = _Transport()
        self.frames: list[tuple[int, bool, int]] = []

    def is_closing(self) -> bool:
        return False

    def writelines(self, parts: Any) -> None:
        _header, frame, _data = parts
        kind_id, keyframe, pts = FRAME.unpack(frame)
        self.frames.append((kind_id, bool(keyframe), pts))


class _Source:
    kind = "video"

    def __init__(self) -> None:
        self.requests = 0
        self.gop = type("G", (), {"replay": lambda self, now: []})()

    def clock(self) -> float:
        return 0.0

    def request_keyframe(self) -> None:
        self.requests += 1


def test_a_pipe_over_its_buffer_drops_to_the_next_keyframe_and_asks_for_one() -> None:
    source, writer = _Source(), _Writer()
    sink = PipeSink(source, writer, limit=1000)  # type: ignore[arg-type]
    sink.start()
    assert source.requests == 1 and sink.need_keyframe, "no group kept: wait for a keyframe, ask for one"
    sink.push(Frame(b"\x31d", 1, False))
    sink.push(Frame(b"\x10k", 2, True))
    sink.push(Frame(b"\x31d", 3, False))
    assert [pts for _, _, pts in writer.frames] == [2, 3]
    writer.transport.buffered = 5000  # the edge stopped reading
    sink.push(Frame(b"\x31d", 4, False))
    assert sink.dropped == 1 and sink.need_keyframe and source.requests == 2
    writer.transport.buffered = 0  # it reads again: deltas would not decode, so wait for a keyframe
    sink.push(Frame(b"\x31d", 5, False))
    sink.push(Frame(b"\x10k", 6, True))
    sink.push(Frame(b"\x31d", 7, False))
    assert [pts for _, _, pts in writer.frames] == [2, 3, 6, 7]


async def test_the_pipe_serves_only_its_deployment_and_only_feeds_it_has() -> None:
    relay = Relay()
    server = PipeServer(relay, "s" * 40)
    address = await server.start()
    host, _, port = address.rpartition(":")
    try:
        async def hello(token: str) -> tuple[int, Any] | None:
            reader, writer = await asyncio.open_connection(host, int(port))
            body = msgpack.packb({"room": "live:x", "publisher": "alice", "token": token})
            writer.write(HEADER.pack(len(body), HELLO) + body)
            try:
                kind, raw = await asyncio.wait_for(_read(reader), 5)
                return kind, msgpack.unpackb(raw)
            except asyncio.IncompleteReadError:
                return None
            finally:
                writer.close()

        assert await hello("forged") is None, "a wrong token gets nothing and is hung up on"
        other = feed_token(pipe_key("t" * 40), "live:x", "alice")
        assert await hello(other) is None, "another deployment's token neither"
        kind, reply = await hello(feed_token(pipe_key("s" * 40), "live:x", "alice"))  # type: ignore[misc]
        assert kind == ERROR and reply["kind"] == "not_found"
    finally:
        await server.close()
        await relay.close()
