"""The media peer (aiortc's stock MediaRelay) and the media scenario's non-decoding subscribers."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import uvicorn
from aiortc import RTCSessionDescription

from live.media.peers import Subscriber, publisher
from loadtest.hdr import Histogram
from loadtest.peers.mediarelay_server import build_app
from tests.support.processes import ROOT, python_module
from tests.support.redis_server import free_port


@pytest.fixture
async def peer_url() -> AsyncIterator[str]:
    """The peer's app under uvicorn, on this test's event loop."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def test_the_mediarelay_peer_re_encodes_the_publisher_for_a_viewer(peer_url: str) -> None:
    async with httpx.AsyncClient(base_url=peer_url, timeout=30) as http:
        viewer = Subscriber()
        offer = await viewer.offer()
        assert (await http.post("/subscribe", json={"sdp": offer})).status_code == 404, "no one publishes yet"
        assert (await http.post("/publish", json={"sdp": "nope"})).status_code == 400
        pub, pub_offer = await publisher()
        try:
            reply = await http.post("/publish", json={"sdp": pub_offer})
            assert reply.status_code == 200
            await pub.setRemoteDescription(RTCSessionDescription(sdp=reply.json()["sdp"], type="answer"))
            reply = await http.post("/subscribe", json={"sdp": offer})
            assert reply.status_code == 200
            await viewer.accept(reply.json()["sdp"])
            assert await viewer.wait_video(15, 15)
            assert viewer.received.sizes == {(320, 180)}
            assert len(viewer.received.pictures) >= 5, "moving pictures, decoded"
            health = (await http.get("/healthz")).json()
            assert health == {"status": "ok", "publishing": True, "viewers": 1}
            assert (await http.delete("/publish")).status_code == 204
            assert await _until(lambda: viewer.received.ended, 5), "stopping the publisher ends its viewers"
            assert (await http.get("/healthz")).json()["viewers"] == 0
        finally:
            await viewer.close()
            await pub.close()


async def _until(predicate: Callable[[], bool], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_media_scenario_against_the_peer_with_counting_subscribers_in_two_processes(tmp_path: Path) -> None:
    port = free_port()
    async with python_module("loadtest.peers.mediarelay_server", "--port", str(port), port=port) as peer:
        out = tmp_path / "peer.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtest", "media", "--target", "mediarelay", "--url", f"http://127.0.0.1:{port}",
            "--no-decode", "--subscribers", "3", "--processes", "2", "--ramp", "0.3", "--duration", "2", "--quiet",
            "--out", str(out),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, stderr.decode()
        result = json.loads(out.read_text())
        assert result["target"] == "mediarelay" and result["config"]["decode"] is False
        # two subscriber processes (2 + 1 subscribers) beside the publisher's, each reporting its CPU
        assert result["generator"]["processes"] == 3 and sorted(result["generator"]["cpu"]) == ["0", "1", "2"]
        s = result["summary"]
        assert s["connected"] == 3 and s["failed"] == 0
        assert s["fps_min"] > 10, "encoded frames counted for every subscriber"
        assert s["kbps_avg"] > 0
        assert Histogram.from_json(result["latency"]).total == 3, "a first frame per subscriber"
        # the peer's process was found by its port and sampled; its CPU is shared out per subscriber
        assert s["server"] and s["server"][0]["pid"] == peer.pid
        assert s["server_cpu_per_subscriber"] is not None
        assert "mediarelay" in stdout.decode()
