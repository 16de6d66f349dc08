"""Helpers for media tests: signed-in WebSocket clients that publish and watch, and what the media
processes say they relay."""

from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from live.client import LiveClient
from live.media.peers import Subscriber, publisher
from tests.support.communities import Person
from tests.support.servers import RunningServer


async def connect(server: RunningServer, person: Person) -> LiveClient:
    return await LiveClient.connect(server.url, server.token(person.id, person.name))


async def publish(client: LiveClient, room: str, **kw: Any) -> RTCPeerConnection:
    pc, offer = await publisher(**kw)
    reply = await client.request("media.publish", room=room, sdp=offer, timeout=20)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
    return pc


async def watch(client: LiveClient, room: str, publisher_id: str | None = None,
                subscriber: Subscriber | None = None) -> Subscriber:
    sub = subscriber or Subscriber()
    fields: dict[str, Any] = {"room": room, "sdp": await sub.offer()}
    if publisher_id:
        fields["publisher"] = publisher_id
    reply = await client.request("media.subscribe", timeout=20, **fields)
    await sub.accept(reply["sdp"])
    return sub


async def feeds(server: RunningServer, room: str, publisher_id: str) -> dict[str, dict[str, Any]]:
    """Worker id -> that process's stats of `publisher_id`'s feed in `room` (where it carries it)."""
    out: dict[str, dict[str, Any]] = {}
    for wid, stats in (await server.services.media.stats()).items():
        feed = stats["rooms"].get(room, {}).get(publisher_id)
        if feed is not None:
            out[wid] = feed
    return out

