"""Notifications end to end: inbox, the WebSocket event, Web Push to a real local push service that
decrypts with the subscription's keys (RFC 8291), webhooks to a real receiver that verifies the
signature, mutes and quiet hours, outages and a slow endpoint. Time moves with a ManualClock
(services.clock); every row, request and socket is real."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete

from live.client import LiveClient
from live.clock import ManualClock
from live.notifications import endpoints, prefs, webhooks
from live.notifications.models import OutboxItem
from live.notifications.outbox import backoff
from live.storage.db import Database
from tests.support.communities import Person, error_of, make_community
from tests.support.receivers import PushService, WebhookReceiver, push_service, until, webhook_receiver
from tests.support.servers import RunningServer, run_server, settings

SECRET = "whsec-" + "s" * 30


# -- pure cores ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end", "tz", "utc_time", "quiet"), [
    ("22:00", "07:00", "UTC", "23:30", True),
    ("22:00", "07:00", "UTC", "06:59", True),
    ("22:00", "07:00", "UTC", "07:00", False),
    ("22:00", "07:00", "UTC", "12:00", False),
    ("13:00", "14:00", "UTC", "13:30", True),
    ("13:00", "14:00", "UTC", "14:00", False),
    ("09:00", "09:00", "UTC", "09:00", False),  # start == end: no quiet hours
    ("22:00", "07:00", "Asia/Riyadh", "20:00", True),  # 23:00 in Riyadh (UTC+3)
    ("22:00", "07:00", "Asia/Riyadh", "05:00", False),  # 08:00 in Riyadh
    ("00:00", "06:00", "America/New_York", "08:00", True),  # 03:00 in New York in January (UTC-5)
    ("00:00", "06:00", "America/New_York", "12:00", False),  # 07:00 there
])
def test_quiet_hours(start: str, end: str, tz: str, utc_time: str, quiet: bool) -> None:
    h, m = map(int, utc_time.split(":"))
    now = dt.datetime(2026, 1, 15, h, m, tzinfo=dt.UTC)
    p = prefs.Prefs(quiet_start=prefs.parse_hhmm(start), quiet_end=prefs.parse_hhmm(end), timezone=tz)
    assert p.in_quiet_hours(now) is quiet


def test_mutes_hold_back_only_their_community() -> None:
    p = prefs.Prefs(muted=frozenset({"c1"}))
    now = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
    assert p.holds_back("c1", now) and not p.holds_back("c2", now) and not p.holds_back(None, now)


@pytest.mark.parametrize("url", [
    "http://push.example.com/x",  # not https
    "https://127.0.0.1/x", "https://[::1]/x", "https://localhost/x", "https://10.1.2.3/x",
    "https://192.168.0.9/x", "https://172.16.5.5/x", "https://169.254.169.254/latest", "https://100.64.0.1/x",
    "https://[::ffff:127.0.0.1]/x", "https://0.0.0.0/x", "https://224.0.0.1/x", "https://[fe80::1]/x",
    "ftp://push.example.com/x", "not a url", "https://user:pw@push.example.com/x", "https:///nohost",
    "https://push.example.com/x y", "https://a.internal/x",
])
async def test_endpoints_refused(url: str) -> None:
    with pytest.raises(endpoints.EndpointRefused):
        await endpoints.check(url, frozenset())


async def test_endpoints_allowed() -> None:
    await endpoints.check("https://8.8.8.8/push/abc", frozenset())  # a public literal address
    await endpoints.check("http://127.0.0.1:9999/push/x", frozenset({"127.0.0.1:9999"}))
    with pytest.raises(endpoints.EndpointRefused):  # listed host, other port: still refused
        await endpoints.check("http://127.0.0.1:9998/push/x", frozenset({"127.0.0.1:9999"}))


def test_webhook_signature_round_trip() -> None:
    body = b'{"id":"e1","type":"live.started"}'
    header = webhooks.signature("k" * 32, body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert webhooks.verify("k" * 32, body, header, 1_700_000_100)
    assert not webhooks.verify("k" * 32, body + b" ", header, 1_700_000_100)  # body changed
    assert not webhooks.verify("x" * 32, body, header, 1_700_000_100)  # other secret
    assert not webhooks.verify("k" * 32, body, header, 1_700_001_000)  # too old: a replay


def test_backoff_doubles_and_caps() -> None:
    import random

    rng = random.Random(1)
    assert [round(backoff(n, random.Random(0)) / (2 ** (n - 1))) for n in (1, 2, 3)] == [1, 1, 1]
    assert all(240 <= backoff(n, rng) <= 360 for n in range(10, 40))


# -- a server with a push service and a webhook receiver ----------------------------------------


@dataclasses.dataclass
class Rig:
    server: RunningServer
    push: PushService
    hooks: WebhookReceiver
    clock: ManualClock

    @property
    def notifier(self) -> Any:
        return self.server.services.notifications

    async def settle(self) -> None:
        """Let the outbox do everything that is due now."""
        await self.notifier.sender.settle()


async def _forget_other_tests_outbox(db_url: str) -> None:
    """This worker's tests share the database: rows another test's server left in the outbox (it
    stopped before expanding or sending them) would otherwise be sent by the rig's server, and to
    the rig's receivers (a fan-out is expanded with the expanding node's webhook URLs)."""
    db = Database(db_url)
    try:
        async with db.session() as session:
            await session.execute(delete(OutboxItem))
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def rig(db_url: str, **overrides: Any) -> AsyncIterator[Rig]:
    await _forget_other_tests_outbox(db_url)
    async with push_service() as push, webhook_receiver(SECRET) as (hooks, hook_url):
        host = push.url.removeprefix("http://")
        cfg = settings(database_url=db_url, push_insecure_hosts=frozenset({host}), webhook_urls=(hook_url,),
                       webhook_secret=SECRET, delivery_timeout_seconds=5.0, **overrides)
        async with run_server(cfg) as server:
            clock = ManualClock()
            server.services.clock = clock
            push.server_key = server.services.notifications.signer.public_key
            yield Rig(server, push, hooks, clock)


async def subscribe(rig_: Rig, person: Person) -> Any:
    browser = rig_.push.subscription()
    await person.ok("POST", "/v1/me/push-subscriptions", 201, json=browser.subscription())
    return browser


async def test_live_started_reaches_inbox_socket_push_and_webhook(db_url: str) -> None:
    async with rig(db_url) as r:
        alice, bob, carol = Person(r.server, "alice"), Person(r.server, "bob"), Person(r.server, "carol")
        c = await make_community(alice, read_policy="public")
        await bob.ok("POST", f"/v1/communities/{c['id']}/join")
        await carol.ok("POST", f"/v1/communities/{c['id']}/follow")  # a follower, not a member
        browser = await subscribe(r, bob)
        async with await LiveClient.connect(r.server.url, r.server.token(bob.id, "bob")) as ws:
            live = await alice.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "جلسة jam"})
            event = await ws.next_event("notification")
        note = event["notification"]
        assert note["kind"] == "live.started" and note["live_id"] == live["id"] and note["read"] is False
        assert note["actor"] == {"id": alice.id, "name": "alice"} and note["url"] == f"#/live/{live['id']}"
        assert note["body"] == "جلسة jam" and "alice is live" in note["title"]

        inbox = await bob.ok("GET", "/v1/me/notifications")
        assert [n["id"] for n in inbox["items"]] == [note["id"]] and inbox["unread_count"] == 1
        assert inbox["items"][0] == note
        carols = await carol.ok("GET", "/v1/me/notifications")
        assert [n["id"] for n in carols["items"]] == [note["id"]]  # followers hear of it too
        assert (await alice.ok("GET", "/v1/me/notifications"))["items"] == []  # not the host

        await r.settle()
        await until(lambda: r.push.payloads(browser.token))
        assert r.push.payloads(browser.token) == [note]  # decrypted with bob's browser keys
        assert r.push.refused == []
        hook_types = sorted(h.type for h in r.hooks.events.values())
        assert "live.started" in hook_types and "notification.created" in hook_types
        created = r.hooks.of_type("notification.created")
        assert created[0].data["notification"] == note
        assert sorted(created[0].data["recipients"]) == sorted([bob.id, carol.id])
        started = r.hooks.of_type("live.started")[0].data
        assert started["community_id"] == c["id"] and started["live"]["id"] == live["id"]
        assert r.hooks.bad_signatures == 0 and all(h.signed for h in r.hooks.requests)

        # Reading it.
        assert (await bob.ok("POST", "/v1/me/notifications/read", json={"ids": [note["id"]]})) == {"unread_count": 0}
        assert (await bob.ok("GET", "/v1/me/notifications", params={"unread": "true"}))["items"] == []
        assert (await bob.ok("GET", "/v1/me/notifications"))["items"][0]["read"] is True
        error_of(await bob.call("POST", "/v1/me/notifications/read", json={}), 422, "invalid_request")
        error_of(await bob.call("GET", "/v1/me/notifications", params={"cursor": "nope"}), 422, "invalid_request")
        for p in (alice, bob, carol):
            await p.http.aclose()


async def test_members_get_announcements_and_sanctions_as_notifications(db_url: str) -> None:
    async with rig(db_url) as r:
        alice, bob = Person(r.server, "alice"), Person(r.server, "bob")
        c = await make_community(alice)
        await bob.ok("POST", f"/v1/communities/{c['id']}/join")
        await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201, json={"text": "Friday jam"})
        await alice.ok("POST", f"/v1/communities/{c['id']}/moderation", 201,
                       json={"action": "mute", "user_id": bob.id, "duration_seconds": 60, "reason": "calm down"})
        await r.settle()
        items = (await bob.ok("GET", "/v1/me/notifications"))["items"]
        assert [n["kind"] for n in items] == ["moderation.notice", "announcement"]
        assert items[0]["body"].startswith("Reason: calm down") and "muted" in items[0]["title"]
        assert items[1]["body"] == "Friday jam" and items[1]["url"] == f"#/c/{c['id']}/groups"
        assert (await alice.ok("GET", "/v1/me/notifications"))["items"] == []  # not the author
        for p in (alice, bob):
            await p.http.aclose()


async def test_push_subscription_errors(db_url: str) -> None:
    async with rig(db_url) as r:
        bob = Person(r.server, "bob")
        good = r.push.subscription().subscription()
        for endpoint in ("https://127.0.0.1/push", "http://push.example.com/x", "https://169.254.169.254/",
                         "https://10.0.0.1/p", "nonsense", "https://localhost/p"):
            err = error_of(await bob.call("POST", "/v1/me/push-subscriptions",
                                          json={**good, "endpoint": endpoint}), 422, "invalid_request")
            assert "endpoint" in err["fields"]
        bad_keys = [
            ({"p256dh": "not*base64", "auth": good["keys"]["auth"]}, "keys.p256dh"),
            ({"p256dh": "BAAA", "auth": good["keys"]["auth"]}, "keys.p256dh"),
            ({"p256dh": "B" + "A" * 86, "auth": good["keys"]["auth"]}, "keys.p256dh"),  # 65 bytes, off the curve
            ({"p256dh": good["keys"]["p256dh"], "auth": "AAAA"}, "keys.auth"),
        ]
        for keys, field in bad_keys:
            err = error_of(await bob.call("POST", "/v1/me/push-subscriptions", json={**good, "keys": keys}),
                           422, "invalid_request")
            assert field in err["fields"], err
        error_of(await bob.call("POST", "/v1/me/push-subscriptions", json={"endpoint": good["endpoint"]}),
                 422, "invalid_request")
        created = await bob.ok("POST", "/v1/me/push-subscriptions", 201, json=good)
        assert created["endpoint"] == good["endpoint"]
        subscriptions = (await bob.ok("GET", "/v1/me/push-subscriptions"))["items"]
        assert [s["endpoint"] for s in subscriptions] == [good["endpoint"]]
        await bob.ok("DELETE", "/v1/me/push-subscriptions", 204, json={"endpoint": good["endpoint"]})
        await bob.ok("DELETE", "/v1/me/push-subscriptions", 204, json={"endpoint": good["endpoint"]})
        assert (await bob.ok("GET", "/v1/me/push-subscriptions"))["items"] == []
        key = (await bob.ok("GET", "/v1/web/push-key"))["public_key"]
        assert key == r.notifier.signer.public_key and len(key) == 87
        await bob.http.aclose()


async def test_gone_subscription_is_removed(db_url: str) -> None:
    async with rig(db_url) as r:
        alice, bob = Person(r.server, "alice"), Person(r.server, "bob")
        c = await make_community(alice)
        await bob.ok("POST", f"/v1/communities/{c['id']}/join")
        gone, kept = await subscribe(r, bob), await subscribe(r, bob)
        r.push.answers[gone.token] = 410
        await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201, json={"text": "one"})
        await r.settle()
        assert len(r.push.payloads(kept.token)) == 1 and r.push.payloads(gone.token) == []
        left = (await bob.ok("GET", "/v1/me/push-subscriptions"))["items"]
        assert [s["endpoint"] for s in left] == [kept.endpoint]
        for p in (alice, bob):
            await p.http.aclose()


async def test_mutes_and_quiet_hours_stop_pushes_and_webhooks_not_the_inbox(db_url: str) -> None:
    async with rig(db_url) as r:
        alice, bob, carol = Person(r.server, "alice"), Person(r.server, "bob"), Person(r.server, "carol")
        c = await make_community(alice)
        for p in (bob, carol):
            await p.ok("POST", f"/v1/communities/{c['id']}/join")
        bob_browser, carol_browser = await subscribe(r, bob), await subscribe(r, carol)
        # bob mutes the community; carol is in her quiet hours (23:30 in Riyadh).
        await bob.ok("PUT", "/v1/me/notification-settings", json={"muted_communities": [c["id"]]})
        saved = await carol.ok("PUT", "/v1/me/notification-settings",
                               json={"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Asia/Riyadh"}})
        assert saved == {"muted_communities": [],
                         "quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Asia/Riyadh"},
                         "daily_limit_minutes": None, "timezone": "Asia/Riyadh"}
        assert await carol.ok("GET", "/v1/me/notification-settings") == saved
        r.clock.set(dt.datetime(2026, 5, 1, 20, 30, tzinfo=dt.UTC))
        await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201, json={"text": "at night"})
        await r.settle()
        assert [n["body"] for n in (await bob.ok("GET", "/v1/me/notifications"))["items"]] == ["at night"]
        assert [n["body"] for n in (await carol.ok("GET", "/v1/me/notifications"))["items"]] == ["at night"]
        assert r.push.payloads(bob_browser.token) == [] and r.push.payloads(carol_browser.token) == []
        assert r.hooks.of_type("notification.created") == []  # nobody left to tell
        # Morning in Riyadh: carol hears, bob (muted) still does not.
        r.clock.set(dt.datetime(2026, 5, 2, 6, 0, tzinfo=dt.UTC))
        await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201, json={"text": "morning"})
        await r.settle()
        assert [p["body"] for p in r.push.payloads(carol_browser.token)] == ["morning"]
        assert r.push.payloads(bob_browser.token) == []
        [hook] = r.hooks.of_type("notification.created")
        assert hook.data["recipients"] == [carol.id]
        # Bad settings are 422 naming the field.
        for body, field in [
            ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
            ({"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Mars/Olympus"}}, "quiet_hours.tz"),
            ({"daily_limit_minutes": 0}, "daily_limit_minutes"),
            ({"muted_communities": "c1"}, "muted_communities"),
            ({"timezone": "Nowhere/Else"}, "timezone"),
        ]:
            err = error_of(await bob.call("PUT", "/v1/me/notification-settings", json=body), 422, "invalid_request")
            assert field in err["fields"], err
        for p in (alice, bob, carol):
            await p.http.aclose()


async def test_webhook_down_for_ten_minutes_gets_every_event_once(db_url: str) -> None:
    async with rig(db_url) as r:
        alice = Person(r.server, "alice")
        c = await make_community(alice)
        r.hooks.mode = "down"
        joiners = [Person(r.server, f"j{i}") for i in range(5)]
        for p in joiners:
            await p.ok("POST", f"/v1/communities/{c['id']}/join")
        live = await alice.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
        await alice.ok("POST", f"/v1/live/{live['id']}/end")
        await r.settle()
        outage_start = r.clock.now()
        while r.clock.now() - outage_start < dt.timedelta(minutes=10):  # ten minutes, in steps
            r.clock.advance(20)
            await r.settle()
        failed = len(r.hooks.requests)
        assert failed > 10 and r.hooks.delivered == set()  # retried all along, nothing accepted
        r.hooks.mode = "up"
        for _ in range(40):  # five minutes at most: the longest backoff
            if {"member.joined", "live.started", "live.ended"} <= {h.type for h in r.hooks.events.values()} \
                    and len(r.hooks.of_type("member.joined")) == 5:
                break
            r.clock.advance(10)
            await r.settle()
        assert len(r.hooks.of_type("member.joined")) == 5
        assert {j.id for j in joiners} == {h.data["user"]["id"] for h in r.hooks.of_type("member.joined")}
        assert len(r.hooks.of_type("live.started")) == 1 and len(r.hooks.of_type("live.ended")) == 1
        assert all(n == 1 for n in r.hooks.ok_counts.values())  # once each by id
        for p in (alice, *joiners):
            await p.http.aclose()


async def test_a_slow_endpoint_does_not_delay_the_others(db_url: str) -> None:
    async with rig(db_url) as r:
        alice, bob = Person(r.server, "alice"), Person(r.server, "bob")
        c = await make_community(alice)
        await bob.ok("POST", f"/v1/communities/{c['id']}/join")
        browser = await subscribe(r, bob)
        await r.settle()
        before = set(r.hooks.delivered)  # bob's member.joined
        r.hooks.mode = "hang"  # the webhook receiver takes every request and never answers
        for i in range(3):
            await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201, json={"text": f"n{i}"})
        await until(lambda: len(r.push.payloads(browser.token)) == 3)  # pushes flow meanwhile
        assert r.hooks.delivered == before
        r.hooks.mode = "up"
        r.hooks.release.set()  # the held requests are answered 503: their sends are retried
        while len(r.hooks.of_type("notification.created")) < 3:
            r.clock.advance(10)
            await r.settle()
        for p in (alice, bob):
            await p.http.aclose()


@pytest.mark.redis
async def test_two_nodes_share_the_outbox_and_the_sockets(db_url: str, redis_url: str, redis_prefix: str) -> None:
    """Both nodes run a sender on one database: every event goes out once; a member connected to
    the other node gets the `notification` event through Redis."""
    await _forget_other_tests_outbox(db_url)  # another test's leftovers would hold the senders' slots
    async with webhook_receiver(SECRET) as (hooks, hook_url):
        cfg = settings(database_url=db_url, redis_url=redis_url, redis_prefix=redis_prefix,
                       webhook_urls=(hook_url,), webhook_secret=SECRET)
        async with run_server(cfg) as a, run_server(cfg) as b:
            alice, bob = Person(a, "alice"), Person(b, "bob")
            c = await make_community(alice)
            await bob.ok("POST", f"/v1/communities/{c['id']}/join")
            async with await LiveClient.connect(b.url, b.token(bob.id, "bob")) as ws:
                made = [(await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201,
                                        json={"text": f"n{i}"}))["id"] for i in range(12)]
                first = await ws.next_event("notification")
            assert first["notification"]["body"] == "n0"  # expanded on either node, heard on b
            await until(lambda: len(hooks.of_type("notification.created")) == 12)
            await a.services.notifications.sender.settle()
            await b.services.notifications.sender.settle()
            assert all(n == 1 for n in hooks.ok_counts.values())  # no row was sent by both nodes
            inbox = await bob.ok("GET", "/v1/me/notifications", params={"limit": 50})
            assert [n["body"] for n in inbox["items"]] == [f"n{i}" for i in reversed(range(12))]
            assert len(made) == 12
            for p in (alice, bob):
                await p.http.aclose()
