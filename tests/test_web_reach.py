"""The web client's reach features in a real Chromium: the inbox and its unread badge, push asked
only on a click, upcoming lives with a ticking countdown and "Remind me", the home page's live
tab, and "Your time"."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.browser import Shots, chromium, dev_sign_in, new_page, until
from tests.support.communities import Person, make_community
from tests.support.servers import RunningServer, run_server, settings, uid

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def dev_server(sqlite_url: str) -> AsyncIterator[RunningServer]:
    async with run_server(settings(database_url=sqlite_url, dev=True)) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as running:
        yield running


def real_errors(errors: list[str]) -> list[str]:
    """Page errors, without 4xx console lines and Chromium's own word that this (headless,
    incognito-like) browser has no push service."""
    return [e for e in errors if "Failed to load resource" not in e and "Push API" not in e]


async def test_inbox_badge_and_push_only_on_click(dev_server: RunningServer, browser: Any, request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    alice = Person(dev_server, "alice")
    bob_id = uid("bob")
    c = await make_community(alice, name="Reach جاز", read_policy="public")

    page = await new_page(browser, dev_server.url, errors=errors)
    await page.context.grant_permissions(["notifications"], origin=dev_server.url)
    # Count every permission prompt the page makes.
    await page.add_init_script(
        "window.__asked = 0; const ask = Notification.requestPermission.bind(Notification);"
        "Notification.requestPermission = (...a) => { window.__asked += 1; return ask(...a); };")
    await dev_sign_in(page, bob_id, "Bob")
    await page.get_by_test_id("bell").wait_for()
    await page.wait_for_function("() => window.live.gateway.status === 'open'")
    assert await page.get_by_test_id("unread-count").is_hidden()
    bob = Person(dev_server, "bob")
    bob.id = bob_id
    bob.http.headers["Authorization"] = f"Bearer {dev_server.token(bob_id, 'Bob')}"
    await bob.ok("POST", f"/v1/communities/{c['id']}/join")
    await alice.ok("POST", f"/v1/communities/{c['id']}/announcements", 201, json={"text": "مرحبا: Friday jam"})
    await alice.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "Live now"})
    # Both arrive over the WebSocket while the page is open: the badge counts them.
    await page.get_by_test_id("unread-count").filter(has_text=re.compile(r"^2$")).wait_for()
    await shots.take(page, "badge")

    # Nothing asked for notification permission, and no service worker yet.
    assert await page.evaluate("window.__asked") == 0
    assert await page.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0

    await page.get_by_test_id("bell").click()
    notes = page.get_by_test_id("notification")
    await notes.first.wait_for()
    assert await notes.count() == 2
    assert await notes.nth(0).get_attribute("data-kind") == "live.started"
    body = page.locator(".note-body").nth(1)
    assert await body.inner_text() == "مرحبا: Friday jam" and await body.get_attribute("dir") == "auto"
    assert await page.locator(".note.unread").count() == 2
    assert await page.get_by_test_id("push-toggle").inner_text() == "Turn on push notifications"
    await shots.take(page, "inbox")
    await page.get_by_test_id("mark-all-read").click()
    await page.get_by_test_id("unread-count").wait_for(state="hidden")
    assert await page.locator(".note.unread").count() == 0
    assert (await bob.ok("GET", "/v1/me/notifications"))["unread_count"] == 0

    # Only the click asks, and registers the service worker. (Subscribing needs the browser's
    # push service, which a machine without the internet does not have: that step is refused
    # here, and said so to the user; the server's side of Web Push is tested against a local
    # push service in test_notifications.py.)
    await page.get_by_test_id("push-toggle").click()
    await page.wait_for_function("() => window.__asked === 1")
    assert await until(page, "() => navigator.serviceWorker.getRegistrations().then(r => r.length === 1)")
    await page.locator(".toast").first.wait_for()

    # A click on a notification opens where it points.
    await notes.nth(0).locator("a").click()
    await page.wait_for_url(re.compile(r"#/live/"))
    assert real_errors(errors) == []
    for p in (alice, bob):
        await p.http.aclose()


async def test_upcoming_countdown_remind_me_home_tab_and_your_time(dev_server: RunningServer, browser: Any,
                                                                   request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    host = Person(dev_server, "host")
    c = await make_community(host, name="Schedule", read_policy="public")
    starts = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    planned = await host.ok("POST", f"/v1/communities/{c['id']}/live", 201,
                            json={"title": "Friday session", "starts_at": starts.isoformat()})
    viewer_id = uid("viewer")
    page = await new_page(browser, dev_server.url, errors=errors)
    await dev_sign_in(page, viewer_id, "Viewer")

    await page.goto(f"/#/c/{c['id']}/live")
    card = page.get_by_test_id("upcoming-card").filter(has_text="Friday session")
    await card.wait_for()
    clock = card.get_by_test_id("countdown")
    first = await clock.inner_text()
    assert re.fullmatch(r"Starts in (4 min [0-5]\d sec|5 min 00 sec)", first), first
    # It ticks: the text changes without a reload.
    await page.wait_for_function(
        "before => document.querySelector('[data-testid=countdown]').textContent !== before", arg=first)
    await card.get_by_test_id("remind-me").click()
    await card.get_by_test_id("remind-me").filter(has_text="Reminder set").wait_for()
    viewer = Person(dev_server, "viewer")
    viewer.http.headers["Authorization"] = f"Bearer {dev_server.token(viewer_id, 'Viewer')}"
    listed = await viewer.ok("GET", f"/v1/communities/{c['id']}/live", params={"status": "scheduled"})
    assert [x["remind_me"] for x in listed["items"] if x["id"] == planned["id"]] == [True]
    await shots.take(page, "upcoming")

    # Following from the header; then the home page's live tab shows its lives.
    await page.get_by_test_id("follow").click()
    await page.get_by_test_id("follow").filter(has_text="Following").wait_for()
    await host.ok("POST", f"/v1/live/{planned['id']}/start")
    await page.goto("/#/")
    await page.get_by_test_id("home-live").filter(has_text="Friday session").wait_for()
    await shots.take(page, "home-tab")

    await page.get_by_test_id("your-time").click()
    await page.get_by_test_id("usage-chart").wait_for()
    assert await page.get_by_test_id("usage-day").count() == 7
    assert "Today: 0 min" in await page.get_by_test_id("usage-today").inner_text()
    await shots.take(page, "your-time")
    assert real_errors(errors) == []
    for p in (host, viewer):
        await p.http.aclose()


async def test_the_service_worker_is_served_at_the_root(dev_server: RunningServer) -> None:
    async with dev_server.client() as http:
        res = await http.get("/sw.js")
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/javascript")
        assert res.headers["service-worker-allowed"] == "/" and "showNotification" in res.text
        assert (await http.get("/static/sw.js")).status_code == 404
