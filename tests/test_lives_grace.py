"""The grace period: a live whose host is not there ends by itself (whether the host left or never
came), unless the host comes back, is connected through another node, or is still sending media;
a restarted node picks up running lives. Time is moved by hand (`ManualClock`), never slept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from live.client import LiveClient
from tests.support.clock import ManualClock, until
from tests.support.communities import Person, make_community, people
from tests.support.servers import RunningServer, run_server

GRACE = 60.0


@pytest.fixture
async def grace_server(make_settings: Any) -> AsyncIterator[tuple[RunningServer, ManualClock]]:
    async with run_server(make_settings(live_grace_seconds=GRACE)) as server:
        clock = ManualClock()
        server.services.lives.grace.sleep = clock.sleep
        yield server, clock


def timer(lid: str) -> str:
    return f"live-grace-{lid}"


async def status(person: Person, lid: str) -> str:
    return str((await person.ok("GET", f"/v1/live/{lid}"))["status"])


async def go_live(host: Person, cid: str, title: str = "t") -> dict[str, Any]:
    return await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": title})


async def test_a_live_whose_host_never_connects_ends(grace_server: tuple[RunningServer, ManualClock]) -> None:
    server, clock = grace_server
    lives = server.services.lives
    ended: list[dict[str, Any]] = []

    async def on_ended(payload: dict[str, Any]) -> None:
        ended.append(payload["live"])

    server.services.events.on("live.ended", on_ended)
    async with people(server, "host") as (host,):
        live = await go_live(host, (await make_community(host))["id"])
        assert live["id"] in lives.grace  # armed at the start: the host has not connected
        await until(lambda: clock.asleep(timer(live["id"])))
        clock.advance(GRACE - 1)
        assert await status(host, live["id"]) == "live"
        clock.advance(1)
        await until(lambda: [e["id"] for e in ended] == [live["id"]])
        assert await status(host, live["id"]) == "ended"


async def test_gone_back_elsewhere_or_sending(grace_server: tuple[RunningServer, ManualClock]) -> None:
    server, clock = grace_server
    lives = server.services.lives
    async with people(server, "host") as (host,):
        cid = (await make_community(host))["id"]

        # Gone after being there: ended after the grace period; a second report adds no timer.
        live = await go_live(host, cid, "a")
        lives.host_connected(live["id"], host.id)
        assert live["id"] not in lives.grace
        before = clock.started[timer(live["id"])]
        lives.host_disconnected(live["id"], host.id)
        lives.host_disconnected(live["id"], host.id)
        await until(lambda: clock.asleep(timer(live["id"])))
        assert clock.started[timer(live["id"])] == before + 1
        clock.advance(GRACE)
        await until(lambda: _is(host, live["id"], "ended"))

        # Back within the grace period: the timer is gone, time passes, still live.
        live = await go_live(host, cid, "b")
        await until(lambda: clock.asleep(timer(live["id"])))
        clock.advance(GRACE / 3)
        lives.host_connected(live["id"], host.id)
        assert live["id"] not in lives.grace
        clock.advance(GRACE * 2)
        assert await status(host, live["id"]) == "live"

        # Connected through another node (presence is global): the timer ends, the live stays.
        presence = server.services.presence
        presence.add(live["room"], host.id)
        lives.host_disconnected(live["id"], host.id)
        await until(lambda: clock.asleep(timer(live["id"])))
        clock.advance(GRACE)
        await until(lambda: live["id"] not in lives.grace)
        assert await status(host, live["id"]) == "live"
        presence.remove(live["room"], host.id)
        lives.host_disconnected(live["id"], host.id)
        await until(lambda: clock.asleep(timer(live["id"])))
        clock.advance(GRACE)
        await until(lambda: _is(host, live["id"], "ended"))

        # Sending media without a socket (WHIP from a broadcasting tool): still live, and asked
        # again every grace period, so it ends once the media stops too.
        live = await go_live(host, cid, "whip")
        sending = {live["room"]: {host.id: ["audio", "video"]}}

        class Media:
            def publishers(self, room: str) -> dict[str, list[str]]:
                return dict(sending.get(room, {}))

        # Who sends media, as the live service sees it (the media service's publications).
        media = lives.media
        lives.media = Media()
        try:
            for round_ in (1, 2):
                await until(lambda: clock.asleep(timer(live["id"])))
                assert clock.started[timer(live["id"])] == round_
                clock.advance(GRACE)
                await until(lambda: clock.started[timer(live["id"])] == round_ + 1)  # noqa: B023 - awaited here
                assert await status(host, live["id"]) == "live"
            sending.clear()  # the broadcasting tool stopped
            await until(lambda: clock.asleep(timer(live["id"])))
            clock.advance(GRACE)
            await until(lambda: _is(host, live["id"], "ended"))
        finally:
            lives.media = media

        # Ended by hand meanwhile: the timer goes with it.
        live = await go_live(host, cid, "c")
        await host.ok("POST", f"/v1/live/{live['id']}/end")
        assert live["id"] not in lives.grace


async def _is(person: Person, lid: str, wanted: str) -> bool:
    return await status(person, lid) == wanted


async def test_host_socket_closing_ends_the_live_after_grace(
    grace_server: tuple[RunningServer, ManualClock],
) -> None:
    """End to end: the host's WebSocket joins (the start's timer goes), then closes; the gateway
    reports it; the live ends after the grace period."""
    server, clock = grace_server
    lives = server.services.lives
    async with people(server, "host") as (host,):
        cid = (await make_community(host))["id"]
        live = await go_live(host, cid, "ws")
        client = await LiveClient.connect(server.ws_url, server.token(host.id, "host"))
        try:
            joined = await client.request("room.join", room=live["room"])
            assert joined["state"]["host"]["id"] == host.id
            await until(lambda: live["id"] not in lives.grace)  # connected: no timer runs
            clock.advance(GRACE * 2)
            assert await status(host, live["id"]) == "live"
        finally:
            await client.close()
        await until(lambda: clock.asleep(timer(live["id"])))
        clock.advance(GRACE)
        await until(lambda: _is(host, live["id"], "ended"))


async def test_a_restarted_node_resumes_grace_timers(make_settings: Any) -> None:
    """Lives left running by a node that died end after a grace period on the next start."""
    async with run_server(make_settings(live_grace_seconds=3600)) as first:
        async with people(first, "host") as (host,):
            cid = (await make_community(host))["id"]
            live = await go_live(host, cid, "orphan")
    async with run_server(make_settings(live_grace_seconds=0.3)) as second:
        async with people(second, "viewer") as (viewer,):
            await until(lambda: _is(viewer, live["id"], "ended"))
