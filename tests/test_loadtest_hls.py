"""`python -m loadtest hls` against a real server and a real aiortc host: viewers get segments,
and the report has its figures."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from aiortc import RTCSessionDescription

from live.client import LiveClient
from live.media.peers import publisher
from tests.support.communities import make_community, people
from tests.support.servers import run_server


async def test_loadtest_hls_watches_a_live(make_settings: Any, tmp_path: Path) -> None:
    async with run_server(make_settings(var_dir=str(tmp_path), thumbnail_seconds=0)) as server, \
            people(server, "alice") as (alice,):
        community = await make_community(alice)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "load"})
        host = await LiveClient.connect(server.url, server.token(alice.id))
        await host.request("room.join", room=live["room"])
        pc, offer = await publisher(codec="H264")
        reply = await host.request("media.publish", room=live["room"], sdp=offer, timeout=20)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        try:
            for _ in range(300):
                if (await alice.ok("GET", f"/v1/live/{live['id']}"))["hls_url"]:
                    break
                await asyncio.sleep(0.1)
            out = tmp_path / "hls.json"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtest", "hls", "--url", server.url, "--live", live["id"],
                "--viewers", "50", "--duration", "6", "--ramp", "1", "--no-server-stats", "--quiet",
                "--out", str(out), env={**os.environ}, stdout=asyncio.subprocess.PIPE)
            stdout, _ = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, stdout.decode()
            result = json.loads(out.read_text())
            assert result["errors"] == 0 and result["segments"] >= 50
            assert result["segment_fetch_ms"]["p99"] is not None
            g2g = result["glass_to_glass_s"]
            assert 0 < g2g["p50"] < 10, g2g  # a whole segment, plus the one a player holds
            assert "glass to glass" in stdout.decode()
            print(stdout.decode())
            # the server counted them as HLS viewers
            got = await alice.ok("GET", f"/v1/live/{live['id']}")
            assert got["hls_viewer_count"] >= 50
        finally:
            await host.close()
            await pc.close()
