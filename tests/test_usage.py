"""Usage time recorded from real sessions: WebSocket presence in live rooms and signed-in HLS
players, minute bitmaps flushed to the database, exact across reconnects and nodes; local days,
messages sent, the daily limit's one `usage.reminder`.

The recorder's sampling and flushing are called directly at ManualClock times (what its loop does
every few seconds); the sockets, rooms, HTTP requests and rows are real."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from live.client import LiveClient
from live.clock import ManualClock
from live.me import usage
from tests.support.communities import Person, make_community
from tests.support.servers import RunningServer, run_server

T0 = dt.datetime(2026, 3, 10, 12, 0, 5, tzinfo=dt.UTC)


# -- pure -----------------------------------------------------------------------------------------


def test_minutes_as_bits() -> None:
    assert usage.minute_of(dt.datetime(2026, 3, 10, 0, 0, 59, tzinfo=dt.UTC)) == ("2026-03-10", 0)
    assert usage.minute_of(dt.datetime(2026, 3, 10, 23, 59, tzinfo=dt.UTC)) == ("2026-03-10", 1439)
    bits = usage.bits_of({0, 1, 2, 1439})
    assert usage.count_range(bits, 0, 1440) == 4 and usage.count_range(bits, 1, 3) == 2
    assert usage.to_int(usage.to_bytes(bits)) == bits and len(usage.to_bytes(bits)) == 180
    marks = usage.minute_marks(dt.datetime(2026, 3, 10, 23, 58, 30, tzinfo=dt.UTC),
                               dt.datetime(2026, 3, 11, 0, 1, tzinfo=dt.UTC))
    assert marks == {"2026-03-10": {1438, 1439}, "2026-03-11": {0}}


@pytest.mark.parametrize(("tz", "day", "hours"), [
    ("UTC", dt.date(2026, 3, 10), 24),
    ("Asia/Riyadh", dt.date(2026, 3, 10), 24),
    ("Europe/Berlin", dt.date(2026, 3, 29), 23),  # clocks go forward
    ("Europe/Berlin", dt.date(2026, 10, 25), 25),  # and back
])
def test_local_days_are_cut_from_utc_days(tz: str, day: dt.date, hours: int) -> None:
    start, end = usage.local_day_bounds(day, tz)
    assert (end - start) == dt.timedelta(hours=hours)
    every = {d: (1 << 1440) - 1 for d in ("2026-03-09", "2026-03-10", "2026-03-11", "2026-03-28",
                                              "2026-03-29", "2026-10-24", "2026-10-25", "2026-10-26")}
    assert usage.minutes_between(every, start, end) == hours * 60


# -- recorded from sockets -------------------------------------------------------------------------


def recorder(server: RunningServer) -> Any:
    return server.services.usage


async def my_usage(person: Person) -> dict[str, Any]:
    return await person.ok("GET", "/v1/me/usage")


async def test_watching_and_hosting_from_presence(server: RunningServer) -> None:
    clock = ManualClock(T0)
    server.services.clock = clock
    host, viewer = Person(server, "host"), Person(server, "viewer")
    c = await make_community(host, read_policy="public")
    live = await host.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
    rec = recorder(server)
    async with await LiveClient.connect(server.url, server.token(host.id, "host")) as studio:
        await studio.request("room.join", room=live["room"])
        watcher = await LiveClient.connect(server.url, server.token(viewer.id, "viewer"))
        await watcher.request("room.join", room=live["room"])
        assert rec.sample() == 2
        # A reconnect inside the same minute, and a second tab: still one minute.
        await watcher.close()
        watcher = await LiveClient.connect(server.url, server.token(viewer.id, "viewer"))
        await watcher.request("room.join", room=live["room"])
        async with await LiveClient.connect(server.url, server.token(viewer.id, "viewer")) as tab:
            await tab.request("room.join", room=live["room"])
            clock.advance(40)
            rec.sample()
        clock.advance(30)  # the next minute
        rec.sample()
        clock.advance(60)
        await watcher.close()
        await until_left(server, live["room"], viewer.id)
        rec.sample()  # the viewer has gone: only the host's third minute
        await rec.flush()
        assert await rec.flush() == []  # nothing new
    mine = await my_usage(viewer)
    assert mine["today"]["date"] == "2026-03-10"
    assert mine["today"]["watching_seconds"] == 120 and mine["today"]["hosting_seconds"] == 0
    theirs = await my_usage(host)
    assert theirs["today"]["hosting_seconds"] == 180 and theirs["today"]["watching_seconds"] == 0
    for p in (host, viewer):
        await p.http.aclose()


async def until_left(server: RunningServer, room: str, user_id: str) -> None:
    from tests.support.receivers import until

    gateway = server.services.gateway
    await until(lambda: all(m.user_id != user_id for m in gateway.hub.rooms.get(room, ())))


async def test_two_nodes_count_a_minute_once(make_settings: Any) -> None:
    cfg = make_settings()
    async with run_server(cfg) as a, run_server(cfg) as b:
        clock = ManualClock(T0)
        a.services.clock = b.services.clock = clock
        host, viewer = Person(a, "host"), Person(a, "viewer")
        c = await make_community(host, read_policy="public")
        live = await host.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
        on_a = await LiveClient.connect(a.url, a.token(viewer.id, "viewer"))
        on_b = await LiveClient.connect(b.url, b.token(viewer.id, "viewer"))
        for ws in (on_a, on_b):
            await ws.request("room.join", room=live["room"])
        recorder(a).sample()
        recorder(b).sample()
        await recorder(a).flush()
        await recorder(b).flush()
        await recorder(a).flush()
        assert (await my_usage(viewer))["today"]["watching_seconds"] == 60
        clock.advance(60)
        await on_a.close()  # moved to node b only
        recorder(b).sample()
        await recorder(b).flush()
        assert (await my_usage(viewer))["today"]["watching_seconds"] == 120
        await on_b.close()
        for p in (host, viewer):
            await p.http.aclose()


async def test_local_days_messages_and_the_daily_limit(server: RunningServer) -> None:
    clock = ManualClock(dt.datetime(2026, 3, 10, 22, 58, 10, tzinfo=dt.UTC))  # 01:58 in Riyadh
    server.services.clock = clock
    host, viewer = Person(server, "host"), Person(server, "viewer")
    c = await make_community(host, read_policy="public")
    await viewer.ok("POST", f"/v1/communities/{c['id']}/join")
    await viewer.ok("PUT", "/v1/me/notification-settings", json={"timezone": "Asia/Riyadh", "daily_limit_minutes": 2})
    live = await host.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
    rec = recorder(server)
    async with await LiveClient.connect(server.url, server.token(viewer.id, "viewer")) as ws:
        await ws.request("room.join", room=live["room"])
        rec.sample()
        await rec.flush()
        clock.advance(60)
        rec.sample()
        await rec.flush()  # two minutes: the limit
        clock.advance(60)
        rec.sample()
        await rec.flush()  # three: still one reminder
    await server.services.notifications.sender.settle()
    body = await my_usage(viewer)
    assert body["timezone"] == "Asia/Riyadh" and body["daily_limit_minutes"] == 2
    assert body["today"]["date"] == "2026-03-11"  # already tomorrow in Riyadh
    assert body["today"]["watching_seconds"] == 180
    assert body["days"][-2]["watching_seconds"] == 0
    reminders = [n for n in (await viewer.ok("GET", "/v1/me/notifications"))["items"] if n["kind"] == "usage.reminder"]
    assert len(reminders) == 1 and "2 minutes" in reminders[0]["title"] and reminders[0]["url"] == "#/me/time"
    for p in (host, viewer):
        await p.http.aclose()


async def test_signed_in_hls_viewing_counts(make_settings: Any, tmp_path: Path) -> None:
    async with run_server(make_settings(var_dir=str(tmp_path))) as server:
        clock = ManualClock(T0)
        server.services.clock = clock
        host, viewer = Person(server, "host"), Person(server, "viewer")
        c = await make_community(host, read_policy="members")
        await viewer.ok("POST", f"/v1/communities/{c['id']}/join")
        live = await host.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
        # The playlist the HLS writer keeps for a live (here written as it would be: the media
        # pipeline is tested in test_hls.py; this test is about who the playlist request counts).
        folder = tmp_path / "hls" / live["id"]
        folder.mkdir(parents=True)
        (folder / "index.m3u8").write_text(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
            '#EXT-X-MAP:URI="init0.mp4"\n#EXTINF:2.000,\ns0.m4s\n', "ascii")
        token = server.token(viewer.id, "viewer")
        r = await viewer.http.get(f"/v1/live/{live['id']}/hls/index.m3u8", params={"token": token, "v": "player-1"})
        assert r.status_code == 200, r.text
        clock.advance(60)
        await viewer.http.get(f"/v1/live/{live['id']}/hls/index.m3u8", params={"token": token, "v": "player-1"})
        await recorder(server).flush()
        assert (await my_usage(viewer))["today"]["watching_seconds"] == 120
        for p in (host, viewer):
            await p.http.aclose()


async def test_messages_sent_are_counted(server: RunningServer) -> None:
    host, viewer = Person(server, "host"), Person(server, "viewer")
    c = await make_community(host, read_policy="public")
    await viewer.ok("POST", f"/v1/communities/{c['id']}/join")
    live = await host.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
    async with await LiveClient.connect(server.url, server.token(viewer.id, "viewer")) as ws:
        await ws.request("room.join", room=live["room"])
        for i in range(3):
            await ws.request("chat.send", room=live["room"], text=f"m{i}", nonce=f"n{i}")
    body = await my_usage(viewer)
    assert body["totals"]["messages_sent"] == 3 and sum(d["messages_sent"] for d in body["days"]) == 3
    for p in (host, viewer):
        await p.http.aclose()
