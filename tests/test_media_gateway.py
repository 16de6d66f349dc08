"""Media through the whole server: signaling over the gateway, stage rules, events, thumbnails and
the recording, with real aiortc peers."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCSessionDescription

from live.client import LiveClient, RequestFailed
from live.media.peers import Subscriber, publisher
from tests.support.communities import Person, add_member, error_of, make_community, people
from tests.support.servers import RunningServer, run_server
from tests.support.waiting import eventually


@pytest.fixture
async def media_server(make_settings: Any, tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = make_settings(var_dir=str(tmp_path), media_timeout_seconds=2.0, thumbnail_seconds=1.0)
    async with run_server(settings) as running:
        yield running


async def connect(server: RunningServer, person: Person) -> LiveClient:
    return await LiveClient.connect(server.url, server.token(person.id, person.name))


async def publish(client: LiveClient, room: str, **kw: Any) -> Any:
    pc, offer = await publisher(**kw)
    reply = await client.request("media.publish", room=room, sdp=offer, timeout=20)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
    return pc


async def watch(client: LiveClient, room: str, publisher_id: str | None = None) -> Subscriber:
    sub = Subscriber()
    fields: dict[str, Any] = {"room": room, "sdp": await sub.offer()}
    if publisher_id:
        fields["publisher"] = publisher_id
    reply = await client.request("media.subscribe", timeout=20, **fields)
    await sub.accept(reply["sdp"])
    return sub


async def relayed(server: RunningServer, room: str) -> dict[str, Any]:
    """What the media processes relay in `room`: publisher -> feed stats, over every process."""
    out: dict[str, Any] = {}
    for stats in (await server.services.media.stats()).values():
        for publisher_id, feed in stats["rooms"].get(room, {}).items():
            if feed["origin"]:
                out[publisher_id] = feed
    return out


async def test_publish_watch_thumbnail_and_recording(media_server: RunningServer) -> None:
    server = media_server
    async with people(server, "alice", "bob", "eve") as (alice, bob, eve):
        community = await make_community(alice)
        await add_member(alice, community, bob)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "cam"})
        room, lid = live["room"], live["id"]
        c_alice, c_bob = await connect(server, alice), await connect(server, bob)
        subs: list[Subscriber] = []
        pub = None
        try:
            await c_alice.request("room.join", room=room)
            await c_bob.request("room.join", room=room)
            # nothing to watch yet
            with pytest.raises(RequestFailed) as caught:
                await watch(c_bob, room)
            assert caught.value.code == "not_found"
            # bob is not on stage: he may not publish; junk SDP is a typed error
            with pytest.raises(RequestFailed) as caught:
                await publish(c_bob, room)
            assert caught.value.code == "forbidden"
            with pytest.raises(RequestFailed) as caught:
                await c_alice.request("media.publish", room=room, sdp="v=0 nonsense")
            assert caught.value.code == "invalid_request"
            with pytest.raises(RequestFailed) as caught:
                await c_alice.request("media.publish", room=f"community:{community['id']}", sdp="v=0\r\nm=")
            assert caught.value.code == "invalid_request"

            pub = await publish(c_alice, room)
            published = await c_bob.next_event("media.published", room=room)
            assert published["user_id"] == alice.id and published["kinds"] == ["audio", "video"]
            subs.append(await watch(c_bob, room))
            assert await subs[0].wait_video(20, 20)
            assert subs[0].received.sizes == {(320, 180)} and len(subs[0].received.pictures) > 5
            await eventually(lambda: subs[0].received.frames["audio"] > 10, 5)

            async def metrics_show_the_relay() -> bool:
                # (media processes report their counts every second)
                metrics = await server.metrics()
                return bool(re.search(r'^live_media_frames_out_total\{kind="video"\} [1-9]', metrics, re.M)
                            and re.search(r"^live_media_publications [1-9]", metrics, re.M))

            await eventually(metrics_show_the_relay, 5)

            # the thumbnail: a JPEG, and the live tab links it
            async def thumb_ready() -> bool:
                resp = await bob.call("GET", f"/v1/live/{lid}/thumbnail.jpg")
                return resp.status_code == 200

            await eventually(thumb_ready, 10)
            resp = await bob.call("GET", f"/v1/live/{lid}/thumbnail.jpg", 200)
            assert resp.headers["content-type"] == "image/jpeg" and resp.content[:2] == b"\xff\xd8"
            anon = await server.client().get(f"/v1/live/{lid}/thumbnail.jpg")  # public community: no token needed
            assert anon.status_code == 200
            tab = await bob.ok("GET", f"/v1/communities/{community['id']}/live")
            assert tab["items"][0]["thumbnail_url"] == f"/v1/live/{lid}/thumbnail.jpg"

            # the recording is not ready while live
            error_of(await bob.call("GET", f"/v1/live/{lid}/recording"), 409, "conflict")
            await asyncio.sleep(1.5)  # a recording of some length: its duration is under test
            first = (await relayed(server, room))[alice.id]["sources"]["video"]["first_frame_at"]
            await alice.ok("POST", f"/v1/live/{lid}/end")
            ended_at = time.monotonic()
            gone = await c_bob.next_event("media.unpublished", room=room)
            assert gone["user_id"] == alice.id
            await eventually(lambda: subs[0].received.ended, 5)

            meta = await bob.ok("GET", f"/v1/live/{lid}/recording")
            expected = ended_at - first
            assert meta["size"] > 1000 and meta["format"] == "webm"
            assert abs(meta["duration"] - expected) <= 0.1 * expected, (meta, expected)
            download = await bob.call("GET", meta["url"], 200)
            assert download.headers["content-type"] == "video/webm"
            path = Path(server.services.settings.var_dir) / "download.webm"
            path.write_bytes(download.content)
            with av.open(str(path)) as container:
                kinds = sorted(s.type for s in container.streams)
                assert kinds == ["audio", "video"]
                duration = container.duration / 1_000_000
                assert abs(duration - expected) <= 0.1 * expected
                video = container.streams.video[0]
                frames = [f for _, f in zip(range(5), container.decode(video), strict=False)]
                assert frames and (frames[0].width, frames[0].height) == (320, 180)
            # someone outside the community's readers? (public community: eve may read; unknown live 404s)
            error_of(await eve.call("GET", "/v1/live/nope/recording"), 404, "not_found")
        finally:
            for s in subs:
                await s.close()
            if pub is not None:
                await pub.close()
            await c_alice.close()
            await c_bob.close()


async def test_guest_publishes_and_is_cut_off_when_removed_from_stage(media_server: RunningServer) -> None:
    server = media_server
    async with people(server, "alice", "bob", "carol") as (alice, bob, carol):
        community = await make_community(alice)
        await add_member(alice, community, bob)
        await add_member(alice, community, carol)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "duo"})
        room = live["room"]
        c_alice, c_bob, c_carol = [await connect(server, p) for p in (alice, bob, carol)]
        pcs: list[Any] = []
        subs: list[Subscriber] = []
        try:
            for c in (c_alice, c_bob, c_carol):
                await c.request("room.join", room=room)
            pcs.append(await publish(c_alice, room))
            await c_bob.request("stage.request", room=room)
            await c_alice.request("stage.accept", room=room, user_id=bob.id)
            pcs.append(await publish(c_bob, room, codec="H264"))
            seen = {(await c_carol.next_event("media.published", room=room))["user_id"] for _ in range(2)}
            assert seen == {alice.id, bob.id}
            subs.append(await watch(c_carol, room))
            subs.append(await watch(c_carol, room, bob.id))
            assert await subs[0].wait_video(10, 20) and await subs[1].wait_video(10, 20)
            # bob leaves the stage: his media stops being relayed, the room is told
            await c_alice.request("stage.remove", room=room, user_id=bob.id)
            gone = await c_carol.next_event("media.unpublished", room=room)
            assert gone["user_id"] == bob.id
            await eventually(lambda: subs[1].received.ended, 5)
            assert not subs[0].received.ended
            with pytest.raises(RequestFailed) as caught:
                await publish(c_bob, room)
            assert caught.value.code == "forbidden"
            # carol stops watching the host
            await c_carol.request("media.stop", room=room, publisher=alice.id)
            await eventually(lambda: subs[0].received.ended, 5)
            # bob watches again, then is banned: his media is cut with his connection
            subs.append(await watch(c_bob, room))
            assert await subs[2].wait_video(5, 20)
            await alice.ok("POST", f"/v1/communities/{community['id']}/moderation", 201,
                           json={"action": "ban", "user_id": bob.id, "reason": "spam"})
            await eventually(lambda: subs[2].received.ended, 5)
            assert (await relayed(server, room))[alice.id]["subscribers"] == 0
            # carol goes on stage and publishes; a mute stops her media
            await c_carol.request("stage.request", room=room)
            await c_alice.request("stage.accept", room=room, user_id=carol.id)
            pcs.append(await publish(c_carol, room))
            await _media_event(c_alice, "media.published", room, carol.id)
            await alice.ok("POST", f"/v1/communities/{community['id']}/moderation", 201,
                           json={"action": "mute", "user_id": carol.id, "reason": "noise",
                                 "duration_seconds": 600})
            await _media_event(c_alice, "media.unpublished", room, carol.id)
            # the relay never runs under the gateway's interpreter: it is in media processes
            media = server.services.media
            assert media.local is not None and media.local.pids()
            assert os.getpid() not in media.local.pids().values()
        finally:
            for s in subs:
                await s.close()
            for pc in pcs:
                await pc.close()
            for c in (c_alice, c_bob, c_carol):
                await c.close()


async def test_a_publisher_that_vanishes_ends_its_media_and_the_room_is_told(media_server: RunningServer) -> None:
    server = media_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "x"})
        room = live["room"]
        c_alice, c_bob = await connect(server, alice), await connect(server, bob)
        pc = None
        sub = None
        try:
            await c_bob.request("room.join", room=room)
            pc = await publish(c_alice, room)
            sub = await watch(c_bob, room)
            assert await sub.wait_video(5, 20)
            for sender in pc.getSenders():
                sender._enabled = False  # the camera and network go silent, no goodbye
            gone = await c_bob.next_event("media.unpublished", room=room, timeout=15)
            assert gone["user_id"] == alice.id and gone["kinds"] == ["audio", "video"]
            await eventually(lambda: sub.received.ended, 5)
            assert await relayed(server, room) == {}
        finally:
            if sub is not None:
                await sub.close()
            if pc is not None:
                await pc.close()
            await c_alice.close()
            await c_bob.close()


async def _media_event(client: LiveClient, kind: str, room: str, user_id: str) -> dict[str, Any]:
    """The next `kind` event about `user_id` (earlier ones about others are skipped)."""
    while True:
        event = await client.next_event(kind, room=room, timeout=15)
        if event["user_id"] == user_id:
            return event


async def test_a_recorder_that_fails_does_not_break_the_live(sqlite_url: str, tmp_path: Path) -> None:
    from tests.support.servers import settings

    (tmp_path / "recordings").write_text("not a directory")  # the recorder cannot create its file
    async with run_server(settings(database_url=sqlite_url, var_dir=str(tmp_path), thumbnail_seconds=0)) as server:
        async with people(server, "alice", "bob") as (alice, bob):
            community = await make_community(alice)
            live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "r"})
            room, lid = live["room"], live["id"]
            c_alice, c_bob = await connect(server, alice), await connect(server, bob)
            pub = sub = None
            try:
                await c_bob.request("room.join", room=room)
                pub = await publish(c_alice, room)
                sub = await watch(c_bob, room)
                assert await sub.wait_video(30, 20), "frames flow although the recorder failed"
                # the recorder failed on the first keyframe (in the media process); frames go on
                seen = sub.received.frames["video"]
                assert await sub.wait_video(seen + 30, 20)
                await alice.ok("POST", f"/v1/live/{lid}/end")
                error_of(await bob.call("GET", f"/v1/live/{lid}/recording"), 404, "not_found")
            finally:
                if sub is not None:
                    await sub.close()
                if pub is not None:
                    await pub.close()
                await c_alice.close()
                await c_bob.close()
