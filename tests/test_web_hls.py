"""The web client plays HLS in a real Chromium (hls.js, vendored): a viewer on "data saver", a
viewer whose WebRTC cannot connect (falls back to LL-HLS by itself), and an ended live's replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiortc import RTCSessionDescription

from live.client import LiveClient
from live.media.peers import publisher
from tests.support.browser import ARGS, CHROMIUM, Shots, dev_sign_in, new_page, require_browser
from tests.support.servers import RunningServer, run_server, settings, uid

pytestmark = pytest.mark.timeout(240)

RELAY_ONLY = """
const Real = window.RTCPeerConnection;
window.RTCPeerConnection = function (config) { return new Real({ ...(config || {}), iceTransportPolicy: 'relay' }); };
window.RTCPeerConnection.prototype = Real.prototype;
"""


@pytest.fixture
async def dev_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with run_server(settings(database_url=sqlite_url, dev=True, var_dir=str(tmp_path),
                                   thumbnail_seconds=0)) as running:
        yield running


async def stats_until(page: Any, check: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = await page.evaluate("() => window.live.current ? window.live.current.stats() : null")
        if last and check(last):
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {last}")


def playing_hls(min_frames: int) -> Any:
    def check(stats: dict[str, Any]) -> bool:
        subs = stats.get("subscriptions") or {}
        host = next(iter(subs.values()), None)
        return bool(host and host["transport"] == "hls" and host["totalVideoFrames"] >= min_frames
                    and host["videoWidth"] == 320 and host["hls"]["behindSeconds"] is not None)
    return check


async def test_data_saver_fallback_and_replay_play_hls_in_chromium(dev_server: RunningServer, request: Any) -> None:
    require_browser()
    from playwright.async_api import async_playwright

    server = dev_server
    shots = Shots(request.node.name)
    alice_id = uid("alice")
    http = httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token(alice_id, 'Alice')}"}
    )
    community = (await http.post("/v1/communities", json={"name": "HLS club", "join_policy": "open"})).json()
    live = (await http.post(f"/v1/communities/{community['id']}/live", json={"title": "over HLS"})).json()
    lid = live["id"]
    host = await LiveClient.connect(server.url, server.token(alice_id, "Alice"))
    await host.request("room.join", room=live["room"])
    pc, offer = await publisher(codec="H264")
    reply = await host.request("media.publish", room=live["room"], sdp=offer, timeout=20)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
    errors: list[str] = []
    try:
        async with async_playwright() as pw:
            plain = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                saver = await new_page(plain, server.url, errors=errors)
                await dev_sign_in(saver, uid("bob"), "Bob")
                await saver.evaluate("localStorage.setItem('live.dataSaver', '1')")
                await saver.goto(f"/#/live/{lid}")
                stats = await stats_until(saver, playing_hls(60), 60, "data saver playing HLS")
                saver_behind = stats["subscriptions"][alice_id]["hls"]["behindSeconds"]
                assert stats["subscriptions"][alice_id]["hls"]["lowLatency"] is False
                assert await saver.get_by_test_id("data-saver").get_attribute("aria-pressed") == "true"
                await shots.take(saver, "data-saver")

                # a network where WebRTC cannot connect: relay candidates only, and no TURN server
                fallback = await new_page(plain, server.url, errors=errors)
                await fallback.add_init_script(RELAY_ONLY)
                await dev_sign_in(fallback, uid("carol"), "Carol")
                await fallback.goto(f"/#/live/{lid}")
                stats = await stats_until(fallback, playing_hls(60), 120, "WebRTC failing over to LL-HLS")
                ll_behind = stats["subscriptions"][alice_id]["hls"]["behindSeconds"]
                assert stats["subscriptions"][alice_id]["hls"]["lowLatency"] is True
                await shots.take(fallback, "fallback")
                # playback goes on: the picture keeps coming
                frames = stats["subscriptions"][alice_id]["totalVideoFrames"]
                await stats_until(fallback, playing_hls(frames + 60), 30, "more frames")
                print(
                    f"glass to glass (PDT of the frame shown): data saver {saver_behind:.2f} s, "
                    f"LL-HLS {ll_behind:.2f} s; "
                    f"hls.js latency (from the live edge): {stats['subscriptions'][alice_id]['hls']['latency']}"
                )
                # Near the live edge, not at the start of the window or minutes behind. The goals
                # (under 6 s; under 3 s for LL-HLS) are figures for a quiet machine: measured alone
                # this plays 4.1 s and 1.9-2.0 s behind, but in the parallel suite a 2-core machine's
                # transcode lagged once to 7.9 s. The figures are make bench's and docs/media.md's.
                assert saver_behind < 12 and ll_behind < 6

                # both HLS players are in the room too: counted once each, as room viewers
                got = (await http.get(f"/v1/live/{lid}")).json()
                assert got["hls_viewer_count"] == 2 and got["viewer_count"] == 2

                # the end: the live's page plays the recording from the same playlist
                await http.post(f"/v1/live/{lid}/end")
                await saver.get_by_text("The live has ended").first.wait_for()
                await saver.goto("/#/")
                await saver.goto(f"/#/live/{lid}")
                await saver.get_by_test_id("replay-video").wait_for()
                await saver.evaluate("document.querySelector('[data-testid=replay-video]').play()")

                def replaying(stats: dict[str, Any]) -> bool:
                    replay = stats.get("replay")
                    return bool(replay and replay["totalVideoFrames"] >= 30 and replay["currentTime"] > 1)
                await stats_until(saver, replaying, 60, "the replay playing")
                await shots.take(saver, "replay")
            finally:
                await plain.close()
    finally:
        await http.aclose()
        await host.close()
        await pc.close()
    assert not [e for e in errors if "Failed to load resource" not in e], errors
