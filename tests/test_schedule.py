"""Scheduled lives, reminders, following without joining, and the app's live tab (GET /v1/live).

Time is a ManualClock (services.clock) and the scheduler's pass is called directly after moving
it: ten minutes before a start and two hours after one take no waiting."""

from __future__ import annotations

import datetime as dt
from typing import Any

from live.clock import ManualClock
from tests.support.communities import Person, error_of, make_community
from tests.support.servers import RunningServer


def iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def schedule(server: RunningServer) -> Any:
    return server.services.schedule


async def settle(server: RunningServer) -> None:
    await server.services.notifications.sender.settle()


async def kinds_of(person: Person) -> list[str]:
    return [n["kind"] for n in (await person.ok("GET", "/v1/me/notifications"))["items"]]


async def test_schedule_remind_start(server: RunningServer) -> None:
    clock = ManualClock()
    server.services.clock = clock
    host, member, reader, stranger = (Person(server, n) for n in ("host", "member", "reader", "stranger"))
    c = await make_community(host, read_policy="public")
    await member.ok("POST", f"/v1/communities/{c['id']}/join")
    base = f"/v1/communities/{c['id']}/live"

    # Bad input.
    for starts_at, why in [(iso(clock.now() - dt.timedelta(minutes=1)), "must be in the future"),
                           ("2030-01-01T10:00:00", "time zone"), ("tomorrow", "ISO 8601"),
                           (iso(clock.now() + dt.timedelta(days=400)), "within a year")]:
        err = error_of(
            await host.call("POST", base, json={"title": "t", "starts_at": starts_at}), 422, "invalid_request"
        )
        assert why in err["fields"]["starts_at"], err
    error_of(
        await stranger.call("POST", base, json={"title": "t", "starts_at": iso(clock.now() + dt.timedelta(hours=1))}),
        403,
        "not_member",
    )

    later = await host.ok(
        "POST", base, 201, json={"title": "later", "starts_at": iso(clock.now() + dt.timedelta(hours=3))}
    )
    soon = await host.ok(
        "POST", base, 201, json={"title": "soon", "starts_at": iso(clock.now() + dt.timedelta(hours=1))}
    )
    assert soon["status"] == "scheduled" and soon["started_at"] is None and soon["viewer_count"] == 0
    assert dt.datetime.fromisoformat(soon["starts_at"]) == clock.now() + dt.timedelta(hours=1)
    upcoming = await reader.ok("GET", base, params={"status": "scheduled"})
    assert [x["id"] for x in upcoming["items"]] == [soon["id"], later["id"]]  # soonest first
    assert [x["remind_me"] for x in upcoming["items"]] == [False, False]
    page = await reader.ok("GET", base, params={"status": "scheduled", "limit": 1})
    assert [x["id"] for x in page["items"]] == [soon["id"]] and page["next_cursor"]
    page = await reader.ok("GET", base, params={"status": "scheduled", "limit": 1, "cursor": page["next_cursor"]})
    assert [x["id"] for x in page["items"]] == [later["id"]] and page["next_cursor"] is None
    assert (await reader.ok("GET", base))["items"] == []  # nothing live yet
    await settle(server)
    assert await kinds_of(member) == ["live.scheduled", "live.scheduled"]
    assert await kinds_of(reader) == []  # neither member nor follower

    # Remind me (a reader who is not a member), idempotent; and undo.
    assert await reader.ok("POST", f"/v1/live/{soon['id']}/reminder") == {"live_id": soon["id"], "remind_me": True}
    await reader.ok("POST", f"/v1/live/{soon['id']}/reminder")
    await stranger.ok("POST", f"/v1/live/{soon['id']}/reminder")
    await stranger.ok("DELETE", f"/v1/live/{soon['id']}/reminder", 204)
    mine = await reader.ok("GET", base, params={"status": "scheduled"})
    assert [x["remind_me"] for x in mine["items"]] == [True, False]

    # Not yet time: nothing. Ten minutes before: the reminder, once, however many passes.
    clock.advance(49 * 60)
    assert await schedule(server).tick() == (0, 0)
    clock.advance(60)
    assert await schedule(server).tick() == (1, 0)
    assert await schedule(server).tick() == (0, 0)
    await settle(server)
    assert await kinds_of(reader) == ["live.reminder"]
    assert await kinds_of(stranger) == []
    reminder = (await reader.ok("GET", "/v1/me/notifications"))["items"][0]
    assert reminder["live_id"] == soon["id"] and "10 minutes" in reminder["title"]

    # Only the host starts it; then it is live and everyone who cares hears.
    error_of(await member.call("POST", f"/v1/live/{soon['id']}/start"), 403, "forbidden")
    started = await host.ok("POST", f"/v1/live/{soon['id']}/start")
    assert started["status"] == "live" and started["started_at"]
    error_of(await host.call("POST", f"/v1/live/{soon['id']}/start"), 409, "conflict")
    error_of(await host.call("POST", f"/v1/live/{later['id']}/start"), 409, "conflict")  # already live
    error_of(await reader.call("POST", f"/v1/live/{soon['id']}/reminder"), 409, "conflict")  # started
    await settle(server)
    assert (await kinds_of(reader))[0] == "live.started"
    assert (await kinds_of(member))[0] == "live.started"
    assert [x["id"] for x in (await reader.ok("GET", base))["items"]] == [soon["id"]]

    # Ended: reminders are 409.
    await host.ok("POST", f"/v1/live/{soon['id']}/end")
    error_of(await reader.call("POST", f"/v1/live/{soon['id']}/reminder"), 409, "conflict")
    error_of(await reader.call("POST", "/v1/live/nope/reminder"), 404, "not_found")
    for p in (host, member, reader, stranger):
        await p.http.aclose()


async def test_a_scheduled_live_never_started_ends_two_hours_after(server: RunningServer) -> None:
    clock = ManualClock()
    server.services.clock = clock
    host = Person(server, "host")
    c = await make_community(host)
    base = f"/v1/communities/{c['id']}/live"
    planned = await host.ok(
        "POST", base, 201, json={"title": "p", "starts_at": iso(clock.now() + dt.timedelta(minutes=30))}
    )
    called_off = await host.ok(
        "POST", base, 201, json={"title": "q", "starts_at": iso(clock.now() + dt.timedelta(minutes=40))}
    )
    ended = await host.ok("POST", f"/v1/live/{called_off['id']}/end")
    assert ended["status"] == "ended"
    clock.advance(30 * 60 + 2 * 3600 - 1)
    await schedule(server).tick()
    assert (await host.ok("GET", f"/v1/live/{planned['id']}"))["status"] == "scheduled"
    clock.advance(1)
    assert (await schedule(server).tick())[1] == 1
    gone = await host.ok("GET", f"/v1/live/{planned['id']}")
    assert gone["status"] == "ended" and gone["started_at"] is None
    assert (await host.ok("GET", base, params={"status": "scheduled"}))["items"] == []
    error_of(await host.call("POST", f"/v1/live/{planned['id']}/start"), 409, "conflict")
    await host.http.aclose()


async def test_follow_a_public_community(server: RunningServer) -> None:
    owner, fan = Person(server, "owner"), Person(server, "fan")
    public = await make_community(owner, read_policy="public")
    private = await make_community(owner, name="private", read_policy="members")
    followed = await fan.ok("POST", f"/v1/communities/{public['id']}/follow")
    assert followed["community"]["id"] == public["id"] and followed["community"]["my_role"] is None
    again = await fan.ok("POST", f"/v1/communities/{public['id']}/follow")
    assert again["followed_at"] == followed["followed_at"]  # idempotent
    error_of(await fan.call("POST", f"/v1/communities/{private['id']}/follow"), 404, "not_found")
    error_of(await owner.call("POST", f"/v1/communities/{private['id']}/follow"), 403, "forbidden")
    error_of(await fan.call("POST", "/v1/communities/nope/follow"), 404, "not_found")
    mine = await fan.ok("GET", "/v1/me/following")
    assert [f["community"]["id"] for f in mine["items"]] == [public["id"]] and mine["next_cursor"] is None
    assert (await owner.ok("GET", f"/v1/communities/{public['id']}"))["member_count"] == 1  # not a member

    # A follower hears of lives and finds them in their tab; a banned user cannot follow.
    live = await owner.ok("POST", f"/v1/communities/{public['id']}/live", 201, json={"title": "now"})
    await settle(server)
    assert await kinds_of(fan) == ["live.started"]
    tab = await fan.ok("GET", "/v1/live")
    assert [x["id"] for x in tab["items"]] == [live["id"]]
    assert tab["items"][0]["community"] == {"id": public["id"], "name": public["name"]}
    await fan.ok("DELETE", f"/v1/communities/{public['id']}/follow", 204)
    await fan.ok("DELETE", f"/v1/communities/{public['id']}/follow", 204)
    assert (await fan.ok("GET", "/v1/me/following"))["items"] == []
    assert (await fan.ok("GET", "/v1/live"))["items"] == []
    await owner.ok("POST", f"/v1/communities/{public['id']}/moderation", 201,
                   json={"action": "ban", "user_id": fan.id, "reason": "spam"})
    error_of(await fan.call("POST", f"/v1/communities/{public['id']}/follow"), 403, "banned")
    for p in (owner, fan):
        await p.http.aclose()


async def every_page(person: Person, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of `GET /v1/live` with `params`, following `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await person.ok("GET", "/v1/live", params={**params, **({"cursor": cursor} if cursor else {})})
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_the_live_tab_across_communities(server: RunningServer) -> None:
    clock = ManualClock()
    server.services.clock = clock
    a, b, me = Person(server, "a"), Person(server, "b"), Person(server, "me")
    mine_private = await make_community(a, name="mine", read_policy="members", join_policy="open")
    other_public = await make_community(b, name="other", read_policy="public")
    await me.ok("POST", f"/v1/communities/{mine_private['id']}/join")
    l1 = await a.ok("POST", f"/v1/communities/{mine_private['id']}/live", 201, json={"title": "private live"})
    l2 = await b.ok("POST", f"/v1/communities/{other_public['id']}/live", 201, json={"title": "public live"})
    up = await b.ok("POST", f"/v1/communities/{other_public['id']}/live", 201,
                    json={"title": "soon", "starts_at": iso(clock.now() + dt.timedelta(hours=1))})
    mine = await me.ok("GET", "/v1/live", params={"scope": "mine"})
    assert [x["id"] for x in mine["items"]] == [l1["id"]]
    # the server is shared with other tests: their public lives are listed too, so walk every page
    ids = [x["id"] for x in await every_page(me, {"scope": "public", "limit": 100})]
    assert l2["id"] in ids and l1["id"] not in ids  # members-only lives are never public
    upcoming = await every_page(me, {"scope": "public", "status": "scheduled", "limit": 100})
    assert up["id"] in [x["id"] for x in upcoming]
    assert all(x["status"] == "scheduled" for x in upcoming)
    assert (await me.ok("GET", "/v1/live", params={"scope": "mine", "status": "scheduled"}))["items"] == []
    page = await me.ok("GET", "/v1/live", params={"scope": "public", "limit": 1})
    assert len(page["items"]) == 1
    error_of(await me.call("GET", "/v1/live", params={"scope": "everyone"}), 422, "invalid_request")
    error_of(await me.call("GET", "/v1/live", params={"cursor": "bad"}), 422, "invalid_request")
    for p in (a, b, me):
        await p.http.aclose()
