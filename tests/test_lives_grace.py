"""The grace period: a live whose host is gone ends by itself, unless the host comes back or is
still connected through another node; a restarted node picks up running lives."""

from __future__ import annotations

import asyncio
from typing import Any

from live.client import LiveClient
from tests.support.communities import make_community, people
from tests.support.servers import RunningServer, run_server

GRACE = 0.3


async def _status(server: RunningServer, person: Any, lid: str) -> dict[str, Any]:
    return await person.ok("GET", f"/v1/live/{lid}")


async def _wait_status(server: RunningServer, person: Any, lid: str, status: str, timeout: float = 5.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        live = await _status(server, person, lid)
        if live["status"] == status or loop.time() > end:
            return live
        await asyncio.sleep(0.05)


async def test_grace_period_ends_a_live_whose_host_is_gone(make_settings: Any) -> None:
    async with run_server(make_settings(live_grace_seconds=GRACE)) as server:
        ended: list[dict[str, Any]] = []
        cid = ""

        async def on_ended(payload: dict[str, Any]) -> None:
            # Lives of earlier tests in this database also end here (their timers resume at start).
            if payload["community_id"] == cid:
                ended.append(payload)

        server.services.events.on("live.ended", on_ended)
        lives = server.services.components["lives"]
        async with people(server, "host") as (host,):
            cid = (await make_community(host))["id"]

            # Gone and not back: ended after the grace period.
            live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "a"})
            lives.host_disconnected(live["id"], host.id)
            lives.host_disconnected(live["id"], host.id)  # a second report does not add a timer
            assert (await _status(server, host, live["id"]))["status"] == "live"
            done = await _wait_status(server, host, live["id"], "ended")
            assert done["status"] == "ended" and done["ended_at"]
            assert [e["live"]["id"] for e in ended] == [live["id"]]

            # Back within the grace period: still live.
            live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "b"})
            lives.host_disconnected(live["id"], host.id)
            await asyncio.sleep(GRACE / 3)
            lives.host_connected(live["id"], host.id)
            await asyncio.sleep(GRACE * 2)
            assert (await _status(server, host, live["id"]))["status"] == "live"

            # Still connected through another node (presence is global): still live.
            presence = server.services.components["presence"]
            presence.add(live["room"], host.id)
            lives.host_disconnected(live["id"], host.id)
            await asyncio.sleep(GRACE * 2)
            assert (await _status(server, host, live["id"]))["status"] == "live"
            presence.remove(live["room"], host.id)
            lives.host_disconnected(live["id"], host.id)
            assert (await _wait_status(server, host, live["id"], "ended"))["status"] == "ended"

            # Still sending media without a socket (WHIP from a broadcasting tool): still live.
            live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "whip"})

            class Sending:
                def publishers(self, room: str) -> dict[str, list[str]]:
                    return {host.id: ["audio", "video"]} if room == live["room"] else {}

            media = server.services.components.get("media")
            server.services.components["media"] = Sending()
            try:
                lives.host_disconnected(live["id"], host.id)
                await asyncio.sleep(GRACE * 2)
                assert (await _status(server, host, live["id"]))["status"] == "live"
            finally:
                server.services.components["media"] = media
            await host.ok("POST", f"/v1/live/{live['id']}/end")

            # Ended by hand meanwhile: the timer finds nothing to do.
            live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "c"})
            lives.host_disconnected(live["id"], host.id)
            await host.ok("POST", f"/v1/live/{live['id']}/end")
            await asyncio.sleep(GRACE * 2)
            assert len(ended) == 4


async def test_host_socket_closing_ends_the_live_after_grace(make_settings: Any) -> None:
    """End to end: the host's WebSocket in the room closes; the gateway reports it; the live ends."""
    async with run_server(make_settings(live_grace_seconds=GRACE)) as server:
        async with people(server, "host") as (host,):
            cid = (await make_community(host))["id"]
            live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "ws"})
            client = await LiveClient.connect(server.ws_url, server.token(host.id, "host"))
            try:
                joined = await client.request("room.join", room=live["room"])
                assert joined["state"]["host"]["id"] == host.id
                await asyncio.sleep(GRACE * 2)  # connected: no timer runs
                assert (await _status(server, host, live["id"]))["status"] == "live"
            finally:
                await client.close()
            assert (await _wait_status(server, host, live["id"], "ended"))["status"] == "ended"


async def test_a_restarted_node_resumes_grace_timers(make_settings: Any) -> None:
    """Lives left running by a node that died end after a grace period on the next start."""
    async with run_server(make_settings(live_grace_seconds=60)) as first:
        async with people(first, "host") as (host,):
            cid = (await make_community(host))["id"]
            live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "orphan"})
    async with run_server(make_settings(live_grace_seconds=GRACE)) as second:
        async with people(second, "viewer") as (viewer,):
            assert (await _wait_status(second, viewer, live["id"], "ended"))["status"] == "ended"
