"""WHIP publishing from FFmpeg's own WHIP muxer (inside PyAV), WHEP watching, and their errors."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest

from live.media.peers import Subscriber
from tests.support.communities import add_member, error_of, make_community, people
from tests.support.servers import RunningServer, run_server, settings
from tests.support.waiting import eventually


@pytest.fixture
async def media_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with run_server(settings(database_url=sqlite_url, var_dir=str(tmp_path), thumbnail_seconds=1.0)) as running:
        yield running


def test_ffmpeg_has_the_whip_muxer() -> None:
    assert "whip" in av.formats_available


async def test_whip_from_ffmpeg_reaches_a_whep_viewer_and_is_recorded(media_server: RunningServer) -> None:
    server = media_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        await add_member(alice, community, bob)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "obs"})
        lid = live["id"]
        token = server.token(alice.id, alice.name)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "live.tools.whip", "--url", server.url, "--token", token,
            "--live", lid, "--seconds", "6",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        sub = Subscriber()
        try:
            media = server.services.media
            deadline = time.monotonic() + 15
            while not media.publishers(live["room"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert media.publishers(live["room"]) == {alice.id: ["audio", "video"]}
            resp = await bob.call("POST", f"/v1/live/{lid}/whep", content=await sub.offer(),
                                  headers={"content-type": "application/sdp"})
            assert resp.status_code == 201, resp.text
            assert resp.headers["content-type"].startswith("application/sdp")
            location = resp.headers["location"]
            assert location.startswith(f"/v1/live/{lid}/whep/")
            assert resp.headers["access-control-allow-origin"] == "*"
            await sub.accept(resp.text)
            assert await sub.wait_video(20, 15), sub.received.frames
            assert sub.received.sizes == {(320, 180)}
            assert len(sub.received.pictures) > 5
            feeds = [stats["rooms"][live["room"]][alice.id] for stats in (await media.stats()).values()
                     if alice.id in stats["rooms"].get(live["room"], {})]
            assert [f["sources"]["video"]["codec"] for f in feeds if f["origin"]] == ["video/H264"]
            thumb = await _thumbnail(bob, lid)
            assert thumb[:2] == b"\xff\xd8", "an H.264 keyframe made a JPEG"
            # another viewer's session cannot be deleted by someone else; the owner can
            error_of(await alice.call("DELETE", location), 404, "not_found")
            await bob.call("DELETE", location, 200)
            await eventually(lambda: sub.received.ended, 5)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err.decode()[-2000:]
            assert b"sent 180 video frames" in out
        finally:
            await sub.close()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        # the muxer's DELETE ended the publication; ending the live closes the H.264 recording
        await eventually(lambda: not media.publishers(live["room"]), 10)
        await alice.ok("POST", f"/v1/live/{lid}/end")
        meta = await bob.ok("GET", f"/v1/live/{lid}/recording")
        assert meta["format"] == "matroska" and meta["size"] > 1000
        assert 4.0 < meta["duration"] < 8.0, meta
        download = await bob.call("GET", meta["url"], 200)
        path = Path(server.services.settings.var_dir) / "whip.mkv"
        path.write_bytes(download.content)
        with av.open(str(path)) as container:
            assert sorted(s.type for s in container.streams) == ["audio", "video"]
            frame = next(container.decode(video=0))
            assert (frame.width, frame.height) == (320, 180)


async def test_whip_and_whep_errors(media_server: RunningServer) -> None:
    server = media_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        await add_member(alice, community, bob)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "e"})
        lid = live["id"]
        sdp = {"headers": {"content-type": "application/sdp"}}
        anon = server.client()
        # CORS preflight needs no token
        pre = await anon.options(f"/v1/live/{lid}/whip")
        assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
        assert pre.headers["accept-post"] == "application/sdp"
        assert (await anon.options(f"/v1/live/{lid}/whep")).status_code == 204
        error_of(await anon.post(f"/v1/live/{lid}/whip", content="v=0", **sdp), 401, "unauthorized")
        error_of(await alice.call("POST", f"/v1/live/{lid}/whip", content="v=0",
                                  headers={"content-type": "application/json"}), 422, "invalid_request")
        error_of(await alice.call("POST", f"/v1/live/{lid}/whip", content="v=0 garbage", **sdp), 422,
                 "invalid_request")
        error_of(await alice.call("POST", f"/v1/live/{lid}/whip", content=b"\xff\xfe", **sdp), 422,
                 "invalid_request")
        error_of(await alice.call("POST", f"/v1/live/{lid}/whip", content="x" * 70000, **sdp), 413,
                 "payload_too_large")
        sub = Subscriber()
        offer = await sub.offer()
        # bob is not on stage; unknown lives are 404; nothing is published yet for WHEP
        error_of(await bob.call("POST", f"/v1/live/{lid}/whip", content=offer, **sdp), 403, "forbidden")
        error_of(await alice.call("POST", "/v1/live/nope/whip", content=offer, **sdp), 404, "not_found")
        error_of(await bob.call("POST", f"/v1/live/{lid}/whep", content=offer, **sdp), 404, "not_found")
        error_of(await bob.call("DELETE", f"/v1/live/{lid}/whip/nope"), 404, "not_found")
        await sub.close()
        await alice.ok("POST", f"/v1/live/{lid}/end")
        error_of(await alice.call("POST", f"/v1/live/{lid}/whip", content=offer, **sdp), 409, "conflict")
        # ended without any media: no recording
        error_of(await bob.call("GET", f"/v1/live/{lid}/recording"), 404, "not_found")
        await anon.aclose()


async def _thumbnail(person: Any, lid: str) -> bytes:
    async def thumbnail() -> bytes | None:
        resp = await person.call("GET", f"/v1/live/{lid}/thumbnail.jpg")
        return bytes(resp.content) if resp.status_code == 200 else None

    found: bytes = await eventually(thumbnail, 10, interval=0.2, what="a thumbnail")
    return found


