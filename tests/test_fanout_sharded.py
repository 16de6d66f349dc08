"""Sharded pub/sub (`LIVE_REDIS_CLUSTER=1`): the bus contract over SPUBLISH/SSUBSCRIBE, on a
standalone Redis 7 (one shard) and on a real, single-node Redis Cluster; then rooms over it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import tests.test_bus as contract
from live.bus import Bus
from live.bus.redis import RedisBus
from live.client import LiveClient
from tests.support.redis_server import free_port
from tests.support.servers import run_server, settings

pytestmark = pytest.mark.redis


class ClusterNode:
    """A redis-server in cluster mode owning every slot: the smallest real Redis Cluster."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="live-cluster-")
        for _attempt in range(5):
            # The cluster bus listens on our port + 10000, which free_port() does not check: a
            # node that exits (that port taken) is started again on another.
            self.port = free_port()
            while self.port > 55535:
                self.port = free_port()
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no",
                 "--dir", self.dir, "--logfile", "log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            cli = ["redis-cli", "-p", str(self.port)]
            deadline = time.monotonic() + 10
            while subprocess.run([*cli, "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            else:
                break
            self.proc.kill()
            self.proc.wait(10)
        else:
            log = Path(self.dir, "log")
            raise RuntimeError(f"cluster node did not start: {log.read_text()[-500:] if log.exists() else ''}")
        subprocess.run([*cli, "cluster", "addslotsrange", "0", "16383"], capture_output=True, check=True)
        while "cluster_state:ok" not in subprocess.run([*cli, "cluster", "info"], capture_output=True,
                                                       text=True).stdout:
            if time.monotonic() > deadline:
                raise RuntimeError("cluster did not become ok")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterNode]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server / redis-cli are not installed")
    node = ClusterNode()
    yield node
    node.stop()


@pytest.fixture(params=["sharded-standalone", "cluster"])
async def bus(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Bus]:
    if request.param == "cluster":
        impl = RedisBus(request.getfixturevalue("cluster").url, prefix=redis_prefix, cluster=True)
    else:
        impl = RedisBus(request.getfixturevalue("redis_url"), prefix=redis_prefix, sharded=True)
    await impl.start()
    yield impl
    await impl.close()


# The bus contract, collected here so it runs on the fixture above.
test_publish_reaches_subscribers_in_order = contract.test_publish_reaches_subscribers_in_order
test_only_subscribed_channels_arrive = contract.test_only_subscribed_channels_arrive
test_unsubscribe_stops_delivery = contract.test_unsubscribe_stops_delivery
test_binary_payloads_are_exact = contract.test_binary_payloads_are_exact
test_close_ends_iteration = contract.test_close_ends_iteration


async def test_sharded_mode_really_uses_shard_channels(redis_url: str, redis_prefix: str) -> None:
    bus = RedisBus(redis_url, prefix=redis_prefix, sharded=True)
    sub = bus.subscription()
    await sub.subscribe("room.x")
    try:
        shard = await bus.client.pubsub_shardchannels(redis_prefix + "*")
        classic = await bus.client.pubsub_channels(redis_prefix + "*")
        assert [c.decode() for c in shard] == [redis_prefix + "room.x"] and classic == []
    finally:
        await sub.close()
        await bus.close()


async def test_rooms_over_a_cluster(cluster: ClusterNode, sqlite_url: str, redis_prefix: str) -> None:
    cfg = settings(database_url=sqlite_url, redis_url=cluster.url, redis_cluster=True,
                   redis_prefix=redis_prefix)
    async with run_server(cfg) as srv:
        a = await LiveClient.connect(srv.url, srv.token("ca"))
        b = await LiveClient.connect(srv.url, srv.token("cb"), "msgpack")
        from tests.support.communities import Person, make_community

        owner = Person(srv, "owner")
        community = await make_community(owner)
        room = f"community:{community['id']}"
        for c in (a, b):
            await c.request("room.join", room=room)
        await srv.services.gateway.publish_room(room, {"type": "x.hello", "n": 1})
        assert (await a.next_event("x.hello"))["n"] == 1
        assert (await b.next_event("x.hello"))["n"] == 1
        # chat over the cluster: stored, published on the room's shard channel, heard by both
        live = await owner.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "c"})
        host = await LiveClient.connect(srv.url, srv.token(owner.id, "owner"))
        await host.request("room.join", room=live["room"])
        await a.request("room.join", room=live["room"])
        sent = await host.request("chat.send", room=live["room"], text="over shards", nonce="s1")
        got = await a.next_event("chat.message")
        assert (got["seq"], got["text"]) == (sent["seq"], "over shards")
        await host.close()
        await a.close()
        await b.close()
        await owner.http.aclose()
