"""Media workers: rooms placed on `live media-worker` processes through Redis; a worker killed
mid-live makes clients renegotiate (media.restart) and frames flow again through another."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from live.client import LiveClient
from live.media.peers import Subscriber, publisher
from live.media.redis_workers import RedisWorkers
from tests.support.communities import Person, add_member, make_community, people
from tests.support.servers import SECRET, RunningServer, run_server, settings


@pytest.fixture
async def worker_setup(sqlite_url: str, tmp_path: Path, redis_url: str,
                       redis_prefix: str) -> AsyncIterator[tuple[RunningServer, dict[str, Any]]]:
    cfg = settings(database_url=sqlite_url, var_dir=str(tmp_path), redis_url=redis_url, redis_prefix=redis_prefix,
                             media_workers=True, thumbnail_seconds=0, media_timeout_seconds=3.0)
    env = {**os.environ, "LIVE_REDIS_URL": redis_url, "LIVE_REDIS_PREFIX": redis_prefix,
           "LIVE_DATABASE_URL": cfg.database_url, "LIVE_VAR_DIR": str(tmp_path),
           "LIVE_SECRET": SECRET, "LIVE_THUMBNAIL_SECONDS": "0", "LIVE_LOG_LEVEL": "WARNING"}
    procs: dict[str, Any] = {}
    async with run_server(cfg) as running:
        try:
            for wid in ("w1", "w2"):
                procs[wid] = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "live", "media-worker", "--id", wid, env=env)
            client = RedisWorkers(cfg)
            deadline = time.monotonic() + 20
            while len(await client.workers()) < 2:
                assert time.monotonic() < deadline, "media workers did not start"
                await asyncio.sleep(0.2)
            await client.close()
            yield running, procs
        finally:
            for proc in procs.values():
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), 10)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()


async def connect(server: RunningServer, person: Person) -> LiveClient:
    return await LiveClient.connect(server.url, server.token(person.id, person.name))


async def test_a_killed_worker_moves_its_room_and_clients_renegotiate(
    worker_setup: tuple[RunningServer, dict[str, Any]],
) -> None:
    server, procs = worker_setup
    media = server.services.media
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        await add_member(alice, community, bob)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "w"})
        room = live["room"]
        c_alice, c_bob = await connect(server, alice), await connect(server, bob)
        pcs: list[Any] = []
        subs: list[Subscriber] = []

        async def go() -> Subscriber:
            pc, offer = await publisher()
            pcs.append(pc)
            reply = await c_alice.request("media.publish", room=room, sdp=offer, timeout=25)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
            sub = Subscriber()
            subs.append(sub)
            reply = await c_bob.request("media.subscribe", room=room, sdp=await sub.offer(), timeout=25)
            await sub.accept(reply["sdp"])
            assert await sub.wait_video(10, 20), sub.received.frames
            return sub

        try:
            await c_alice.request("room.join", room=room)
            await c_bob.request("room.join", room=room)
            await go()
            owner = await media.cluster.directory.room_owner(room)
            assert owner in procs
            procs[owner].kill()  # no goodbye: the heartbeat just stops
            await procs[owner].wait()
            for c in (c_alice, c_bob):
                restart = await c.next_event("media.restart", room=room, timeout=15)
                assert restart["room"] == room
            # negotiate again: the room lands on the surviving worker and frames flow
            await go()
            again = await media.cluster.directory.room_owner(room)
            assert again is not None and again != owner
        finally:
            for s in subs:
                await s.close()
            for pc in pcs:
                await pc.close()
            await c_alice.close()
            await c_bob.close()


async def test_no_worker_means_unavailable(sqlite_url: str, tmp_path: Path, redis_url: str,
                                           redis_prefix: str) -> None:
    cfg = settings(database_url=sqlite_url, var_dir=str(tmp_path), redis_url=redis_url, redis_prefix=redis_prefix,
                             media_workers=True)
    async with run_server(cfg) as server, people(server, "alice") as (alice,):
        community = await make_community(alice)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "n"})
        c = await connect(server, alice)
        pc, offer = await publisher()
        try:
            await c.request("room.join", room=live["room"])
            from live.client import RequestFailed

            with pytest.raises(RequestFailed) as caught:
                await c.request("media.publish", room=live["room"], sdp=offer)
            assert caught.value.code == "unavailable"
        finally:
            await pc.close()
            await c.close()
