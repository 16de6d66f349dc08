"""WHIP/WHEP sessions expire: a session of an ended live, or whose peer connection is gone, or
replaced by a newer one, is collected, and a DELETE of it is 404 (with real aiortc peers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from live.media.peers import Subscriber, publisher
from tests.support.clock import until
from tests.support.communities import Person, add_member, error_of, make_community, people
from tests.support.servers import RunningServer, run_server, settings

SDP = {"content-type": "application/sdp"}


@pytest.fixture
async def media_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    cfg = settings(database_url=sqlite_url, var_dir=str(tmp_path), media_timeout_seconds=2.0,
                   recording=False, thumbnail_seconds=0)
    async with run_server(cfg) as running:
        yield running


async def whip(host: Person, lid: str) -> tuple[RTCPeerConnection, str]:
    pc, offer = await publisher()
    resp = await host.call("POST", f"/v1/live/{lid}/whip", 201, content=offer, headers=SDP)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=resp.text, type="answer"))
    return pc, resp.headers["location"]


async def whep(viewer: Person, lid: str) -> tuple[Subscriber, str]:
    sub = Subscriber()
    resp = await viewer.call("POST", f"/v1/live/{lid}/whep", 201, content=await sub.offer(), headers=SDP)
    await sub.accept(resp.text)
    return sub, resp.headers["location"]


def sid_of(location: str) -> str:
    return location.rsplit("/", 1)[1]


async def setup(server: RunningServer, host: Person, viewer: Person) -> dict[str, Any]:
    community = await make_community(host)
    await add_member(host, community, viewer)
    return await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "whip"})


async def test_sessions_of_an_ended_live_are_collected(media_server: RunningServer) -> None:
    server = media_server
    sessions = server.services.media_sessions
    async with people(server, "host", "viewer") as (host, viewer):
        live = await setup(server, host, viewer)
        pc, published = await whip(host, live["id"])
        sub, watching = await whep(viewer, live["id"])
        try:
            assert {sid_of(published), sid_of(watching)} <= set(sessions.by_id)
            await host.ok("POST", f"/v1/live/{live['id']}/end")
            assert not {sid_of(published), sid_of(watching)} & set(sessions.by_id)  # at once, on live.ended
            error_of(await host.call("DELETE", published), 404, "not_found")
            error_of(await viewer.call("DELETE", watching), 404, "not_found")
        finally:
            await sub.close()
            await pc.close()


async def test_a_whip_session_whose_publisher_is_gone_is_collected(media_server: RunningServer) -> None:
    server = media_server
    media = server.services.media
    sessions = server.services.media_sessions
    async with people(server, "host", "viewer") as (host, viewer):
        live = await setup(server, host, viewer)
        pc, first = await whip(host, live["id"])
        assert host.id in media.publishers(live["room"])
        await pc.close()  # the broadcasting tool went away without a DELETE
        await until(lambda: host.id not in media.publishers(live["room"]))
        assert await sessions.sweep() == 1
        assert sid_of(first) not in sessions.by_id
        error_of(await host.call("DELETE", first), 404, "not_found")

        # Publishing again works; a newer session replaces an older one of the same publisher,
        # whose Location would otherwise stop the new media.
        pc2, second = await whip(host, live["id"])
        pc3, third = await whip(host, live["id"])
        try:
            error_of(await host.call("DELETE", second), 404, "not_found")
            assert host.id in media.publishers(live["room"])
            await host.call("DELETE", third, 200)
            await until(lambda: host.id not in media.publishers(live["room"]))
            error_of(await host.call("DELETE", third), 404, "not_found")
        finally:
            await pc2.close()
            await pc3.close()
        await host.ok("POST", f"/v1/live/{live['id']}/end")


async def test_a_whep_session_whose_viewer_is_gone_is_collected(media_server: RunningServer) -> None:
    server = media_server
    media = server.services.media
    sessions = server.services.media_sessions
    async with people(server, "host", "viewer") as (host, viewer):
        live = await setup(server, host, viewer)
        pc, published = await whip(host, live["id"])
        sub, watching = await whep(viewer, live["id"])
        try:
            assert await sub.wait_video(5, 30), sub.received.frames  # connected, media flowing
            assert await media.subscribed(live["room"], viewer.id, host.id) is True
            await sub.close()  # the player's tab closed
            await until(lambda: _unsubscribed(media, live["room"], viewer.id, host.id))
            assert await sessions.sweep() == 1
            assert sid_of(watching) not in sessions.by_id and sid_of(published) in sessions.by_id
            error_of(await viewer.call("DELETE", watching), 404, "not_found")
            # The publisher's own session is untouched and still ends publishing.
            await host.call("DELETE", published, 200)
        finally:
            await pc.close()
        await host.ok("POST", f"/v1/live/{live['id']}/end")


async def _unsubscribed(media: Any, room: str, viewer_id: str, publisher_id: str) -> bool:
    return await media.subscribed(room, viewer_id, publisher_id) is False
