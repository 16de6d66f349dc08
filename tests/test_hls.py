"""HLS egress through the whole server: a real aiortc host (H.264 and VP8), the segments the app
serves decoded with PyAV, LL-HLS blocking reloads, access rules, viewer counts and the VOD."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from aiortc import RTCSessionDescription

from live.client import LiveClient
from live.media.peers import publisher
from tests.support.communities import Person, add_member, error_of, make_community, people
from tests.support.servers import RunningServer, run_server
from tests.support.waiting import eventually


@pytest.fixture
async def hls_server(make_settings: Any, tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = make_settings(var_dir=str(tmp_path), media_timeout_seconds=5.0, thumbnail_seconds=0)
    async with run_server(settings) as running:
        yield running


async def go_live(
    server: RunningServer, host: Person, community: dict[str, Any], codec: str
) -> tuple[str, Any, LiveClient]:
    live = await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "hls"})
    assert live["hls_url"] is None and live["hls_viewer_count"] == 0
    client = await LiveClient.connect(server.url, server.token(host.id, host.name))
    await client.request("room.join", room=live["room"])
    pc, offer = await publisher(codec=codec)
    reply = await client.request("media.publish", room=live["room"], sdp=offer, timeout=20)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
    return live["id"], pc, client


async def hls_ready(person: Person, lid: str, segments: int = 2, query: str = "v=readiness-check") -> str:
    """Wait until the live's `hls_url` is set and its playlist lists `segments` segments.

    The playlist is polled as one player (one viewer id), so it counts as one HLS viewer."""
    async def listed() -> bool:
        return (await person.ok("GET", f"/v1/live/{lid}"))["hls_url"] is not None
    await eventually(listed, 30, interval=0.1, what="hls_url")
    url = f"/v1/live/{lid}/hls/index.m3u8"

    async def ready() -> bool:
        resp = await person.http.get(f"{url}?{query}")
        return resp.status_code == 200 and len(re.findall(r"^s\d+\.m4s", resp.text, re.M)) >= segments
    await eventually(ready, 40, interval=0.1, what=f"{segments} HLS segments")
    return url


async def _listed(person: Person, lid: str) -> bool:
    return (await person.ok("GET", f"/v1/live/{lid}"))["hls_url"] is not None


def decode(init: bytes, segment: bytes, path: Path) -> tuple[list[av.VideoFrame], list[av.AudioFrame], str]:
    path.write_bytes(init + segment)
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context.name
        video = list(container.decode(video=0))
    with av.open(str(path)) as container:
        audio = list(container.decode(audio=0)) if container.streams.audio else []
    return video, audio, codec


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_a_hosts_media_plays_as_hls_and_stays_as_vod(
    hls_server: RunningServer, codec: str, tmp_path: Path
) -> None:
    server = hls_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        lid, pc, host = await go_live(server, alice, community, codec)
        viewer = await LiveClient.connect(server.url, server.token(bob.id, bob.name))
        anon = httpx.AsyncClient(base_url=server.url, timeout=30)
        try:
            url = f"/v1/live/{lid}/hls/index.m3u8"
            await eventually(lambda: _listed(bob, lid), 30, interval=0.1, what="hls_url")
            # a public live needs no token; the first request hands out a viewer id
            first = await anon.get(url)
            v = re.search(r"v=([\w-]+)", first.headers["location"]).group(1)  # type: ignore[union-attr]
            await hls_ready(bob, lid, 2, f"v={v}")  # (the same player: still one viewer)
            assert first.status_code == 302 and re.match(r"index\.m3u8\?v=[\w-]{8,}$", first.headers["location"])
            playlist = await anon.get(f"/v1/live/{lid}/hls/{first.headers['location']}")
            assert playlist.status_code == 200
            assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
            assert playlist.headers["cache-control"] == "public, max-age=1"
            text = playlist.text
            assert "#EXT-X-PART-INF:PART-TARGET=0.500" in text and "CAN-BLOCK-RELOAD=YES" in text
            assert '#EXT-X-MAP:URI="init0.mp4"' in text and "#EXT-X-PROGRAM-DATE-TIME:" in text
            init = (await anon.get(f"/v1/live/{lid}/hls/init0.mp4")).content
            names = re.findall(r"^(s\d+\.m4s)$", text, re.M)
            seg = await anon.get(f"/v1/live/{lid}/hls/{names[0]}")
            assert seg.status_code == 200 and seg.headers["cache-control"] == "public, max-age=31536000, immutable"
            video, audio, name = decode(init, seg.content, tmp_path / "one.mp4")
            assert name == "h264"  # VP8 was transcoded once, H.264 remuxed as it was
            assert video[0].key_frame and (video[0].width, video[0].height) == (320, 180)
            assert len(video) >= 20 and len({bytes(f.planes[0])[:2000] for f in video}) > 5, "moving pictures"
            assert audio and audio[0].format.name == "fltp" and audio[0].sample_rate == 48000  # AAC
            durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text)]
            assert all(1.0 <= d <= 3.5 for d in durations[:-1]), durations
            part = re.findall(r'URI="(p\d+\.\d+\.m4s)"', text)[-1]
            assert (await anon.get(f"/v1/live/{lid}/hls/{part}")).status_code == 200

            # LL-HLS: a blocking reload for the next segment answers once it is listed
            nxt = len(names) + int(re.search(r"MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
            blocked = await anon.get(f"/v1/live/{lid}/hls/index.m3u8?v={v}&_HLS_msn={nxt}")
            assert f"s{nxt}.m4s" in blocked.text

            # the HLS player counts as a viewer: on the live, and in the room's viewers
            await viewer.request("room.join", room=f"live:{lid}")

            async def counted() -> bool:
                live = await bob.ok("GET", f"/v1/live/{lid}")
                return live["hls_viewer_count"] == 1 and live["viewer_count"] == 2
            await eventually(counted, 10, interval=0.1, what="the HLS viewer counted")
            event = await viewer.next_event("room.viewers", timeout=10)
            while event["count"] != 2:
                event = await viewer.next_event("room.viewers", timeout=10)

            # the end: the playlist becomes the VOD of the whole live, parts gone
            await alice.ok("POST", f"/v1/live/{lid}/end")
            ended = await bob.ok("GET", f"/v1/live/{lid}")
            assert ended["hls_url"] == url and ended["hls_viewer_count"] == 0
            vod = await anon.get(url)
            assert vod.status_code == 200 and "#EXT-X-ENDLIST" in vod.text and "#EXT-X-PLAYLIST-TYPE:VOD" in vod.text
            assert "s0.m4s" in vod.text and "EXT-X-PART" not in vod.text
            assert vod.headers["cache-control"] == "public, max-age=60"
            last = re.findall(r"^(s\d+\.m4s)$", vod.text, re.M)[-1]
            video, _, _ = decode(init, (await anon.get(f"/v1/live/{lid}/hls/{last}")).content, tmp_path / "last.mp4")
            assert video and video[0].key_frame
            assert not list((Path(server.settings.var_dir) / "hls" / lid).glob("p*.m4s"))  # parts are gone
        finally:
            await anon.aclose()
            await viewer.close()
            await host.close()
            await pc.close()


async def test_members_only_hls_needs_a_readers_token_and_passes_it_on(hls_server: RunningServer) -> None:
    server = hls_server
    async with people(server, "alice", "bob", "eve") as (alice, bob, eve):
        community = await make_community(alice, read_policy="members")
        await add_member(alice, community, bob)
        lid, pc, host = await go_live(server, alice, community, "H264")
        anon = httpx.AsyncClient(base_url=server.url, timeout=30)
        try:
            token = server.token(bob.id)
            url = await hls_ready(bob, lid, 1, f"v=bobs-player-1&token={token}&joined=1")
            # nobody outside learns anything: the same 404 as a live that does not exist
            for who in (anon.get(url), anon.get(f"{url}?token={server.token(eve.id)}"),
                        anon.get(f"/v1/live/{lid}/hls/init0.mp4"), anon.get("/v1/live/nosuchlive/hls/index.m3u8")):
                body = error_of(await who, 404, "not_found")
                assert body["message"] == "no such HLS playlist or segment"
            error_of(await anon.get(f"{url}?token=forged.token.here"), 401, "unauthorized")
            first = await anon.get(f"{url}?token={token}&joined=1")
            assert first.status_code == 302 and f"token={token}" in first.headers["location"]
            playlist = await anon.get(f"{url}?token={token}&joined=1&v=bobs-player-1")
            assert playlist.status_code == 200 and playlist.headers["cache-control"] == "private, max-age=1"
            uris = re.findall(r'URI="([^"]+)"|^(s\d+\.m4s\?[^\n]*)$', playlist.text, re.M)
            assert uris and all(f"token={token}" in (a or b) for a, b in uris)
            segment = re.findall(r"^(s\d+\.m4s\?\S+)$", playlist.text, re.M)[0]
            resp = await anon.get(f"/v1/live/{lid}/hls/{segment}")
            assert resp.status_code == 200 and resp.headers["cache-control"].startswith("private,")
            # bob also sits in the room (joined=1): one viewer, not two
            bob_ws = await LiveClient.connect(server.url, token)
            try:
                await bob_ws.request("room.join", room=f"live:{lid}")

                async def counted() -> bool:
                    live = await bob.ok("GET", f"/v1/live/{lid}")
                    return live["hls_viewer_count"] == 1 and live["viewer_count"] == 1
                await eventually(counted, 10, interval=0.1, what="one viewer counted once")
            finally:
                await bob_ws.close()
        finally:
            await anon.aclose()
            await host.close()
            await pc.close()


async def test_bad_hls_requests_get_typed_errors(hls_server: RunningServer) -> None:
    server = hls_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "quiet"})
        lid = live["id"]
        # no media yet: no URL, and the playlist is not found
        assert (await bob.ok("GET", f"/v1/live/{lid}"))["hls_url"] is None
        error_of(await bob.call("GET", f"/v1/live/{lid}/hls/index.m3u8"), 404, "not_found")
        (Path(server.settings.var_dir) / "secret.txt").write_text("not for you")
        (Path(server.settings.var_dir) / "hls" / lid).mkdir(parents=True)
        for path in (f"/v1/live/{lid}/hls/..%2F..%2Fsecret.txt", f"/v1/live/{lid}/hls/%2E%2E",
                     f"/v1/live/{lid}/hls/s1.m4s", f"/v1/live/{lid}/hls/index.m3u8%00.mp4",
                     f"/v1/live/{lid}/hls/segments.log", f"/v1/live/{lid}/hls/init0.mp4"):
            resp = await bob.http.get(path)
            assert resp.status_code == 404, path
            assert b"not for you" not in resp.content
        # clients normalize "../" away; a raw request sends it as it is
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET /v1/live/{lid}/hls/../../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 404") and b"not for you" not in answer


async def test_blocking_reload_directives_are_checked(hls_server: RunningServer) -> None:
    server = hls_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        lid, pc, host = await go_live(server, alice, community, "H264")
        try:
            url = await hls_ready(bob, lid, 1)
            base = f"{url}?v=viewer-12345678"
            error_of(await bob.call("GET", f"{base}&_HLS_msn=abc"), 422, "invalid_request")
            error_of(await bob.call("GET", f"{base}&_HLS_part=1"), 422, "invalid_request")
            error_of(await bob.call("GET", f"{base}&_HLS_msn=999999"), 422, "invalid_request")
            text = (await bob.call("GET", base, 200)).text
            seq = int(re.search(r"MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
            listed = len(re.findall(r"^#EXTINF", text, re.M))
            # a part of the segment being built: answered once that part is listed
            resp = await bob.call("GET", f"{base}&_HLS_msn={seq + listed}&_HLS_part=1", 200)
            assert re.search(rf'URI="p{seq + listed}\.1\.m4s"', resp.text) or f"s{seq + listed}.m4s" in resp.text
        finally:
            await host.close()
            await pc.close()


async def test_an_ended_live_without_recording_has_no_hls(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(var_dir=str(tmp_path), recording=False, thumbnail_seconds=0)
    async with run_server(settings) as server, people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        lid, pc, host = await go_live(server, alice, community, "H264")
        try:
            url = await hls_ready(bob, lid, 1)
            await alice.ok("POST", f"/v1/live/{lid}/end")
            assert (await bob.ok("GET", f"/v1/live/{lid}"))["hls_url"] is None
            # (read rights are cached per token for a few seconds: a fresh token is decided anew)
            error_of(await bob.call("GET", f"{url}?token={server.token(bob.id, 'again')}"), 404, "not_found")
            assert not (tmp_path / "hls" / lid).exists()
        finally:
            await host.close()
            await pc.close()
