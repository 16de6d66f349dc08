"""The web client in a real Chromium: sign-in, communities, posts, invitations.

Each test runs its own `live` server (dev mode, SQLite) and drives one page per user, each in its
own browser context (its own localStorage, so its own token). Screenshots of the steps are kept
under test-artifacts/. The live scenario (go live, watch, chat, reactions, ban) is in
test_web_live.py.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.browser import PHONE, Shots, chromium, dev_sign_in, new_page
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
    """Page errors, without the console lines Chromium prints for every 4xx a test provokes."""
    return [e for e in errors if "Failed to load resource" not in e]


async def test_sign_in_create_discover_join_and_post(dev_server: RunningServer, browser: Any, request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    word = f"w{secrets.token_hex(3)}"
    alice_id, bob_id = uid("alice"), uid("bob")

    alice = await new_page(browser, dev_server.url, errors=errors)
    await alice.goto("/")
    await alice.get_by_test_id("dev-signin").wait_for()  # no token yet: the sign-in page
    await shots.take(alice, "signin")
    await dev_sign_in(alice, alice_id, "Alice")
    assert await alice.evaluate("localStorage.getItem('live.token')")

    # Create a community whose name and description mix Arabic and English.
    await alice.get_by_text("Create a community").click()
    form = alice.get_by_test_id("create-community")
    await form.get_by_label("Name").fill(f"Jazz جاز {word}")
    await form.get_by_label("Description").fill("موسيقى الجاز every Friday")
    await form.get_by_label("Topics").fill("jazz, #music")
    await form.get_by_role("button", name="Create community").click()
    await alice.get_by_test_id("community-name").filter(has_text=word).wait_for()
    assert await alice.get_by_test_id("my-role").inner_text() == "owner"
    assert await alice.get_by_test_id("community-name").get_attribute("dir") == "auto"
    await alice.get_by_test_id("no-lives").wait_for()
    await shots.take(alice, "community-created")

    # Tabs are keyboard operable: arrow keys move between them.
    await alice.get_by_role("tab", name="Live").focus()
    await alice.keyboard.press("ArrowRight")
    assert await alice.get_by_role("tab", name="Posts").get_attribute("aria-selected") == "true"
    assert alice.url.endswith("/posts")
    await alice.get_by_test_id("post-text").fill("مرحبا بالجميع hello everyone")
    await alice.get_by_role("button", name="Post", exact=True).click()
    post = alice.get_by_test_id("post").first
    await post.get_by_text("hello everyone").wait_for()
    text = post.locator(".user-text").first
    assert await text.get_attribute("dir") == "auto"
    # Right-to-left first strong character: the paragraph resolves to RTL.
    assert await text.evaluate("el => getComputedStyle(el).direction") == "rtl"

    # Bob, on a phone-sized screen, finds it by a word of its name and joins.
    bob = await new_page(browser, dev_server.url, viewport=PHONE, errors=errors)
    await dev_sign_in(bob, bob_id, "Bob")
    await bob.get_by_label("Search").fill(word)
    card = bob.get_by_test_id("community-card").filter(has_text=word)
    await card.wait_for()
    await shots.take(bob, "discover-phone")
    # A topic chip filters by that topic.
    await card.get_by_role("button", name="#jazz").click()
    assert await bob.get_by_label("Topic", exact=True).input_value() == "jazz"
    await card.get_by_role("button", name="Join").click()
    await bob.get_by_test_id("my-role").filter(has_text="member").wait_for()
    await bob.get_by_role("tab", name="Posts").click()
    bob_post = bob.get_by_test_id("post").filter(has_text="hello everyone")
    await bob_post.wait_for()

    like = bob_post.get_by_test_id("like")
    await like.click()
    await _wait_attr(like, "aria-pressed", "true")
    assert "1" in await like.inner_text()
    await bob_post.get_by_test_id("comments-toggle").click()
    await bob_post.get_by_test_id("comment-text").fill("رائع! great")
    await bob_post.get_by_role("button", name="Comment", exact=True).click()
    await bob_post.get_by_test_id("comment").filter(has_text="great").wait_for()
    await bob_post.get_by_test_id("share").click()
    # The share lands in the same community's feed, quoting the original.
    await bob.locator("blockquote.shared").filter(has_text="hello everyone").wait_for()
    await shots.take(bob, "posts-phone", full_page=True)
    # Nothing overflows sideways on a phone.
    assert await bob.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # Alice sees the like and the comment after a reload of the feed.
    await alice.reload()
    alice_post = (
        alice.get_by_test_id("post").filter(has_text="hello everyone").filter(has_not=alice.locator("blockquote"))
    )
    await alice_post.wait_for()
    assert "1" in await alice_post.get_by_test_id("like").inner_text()
    assert "1" in await alice_post.get_by_test_id("comments-toggle").inner_text()
    await alice.get_by_role("tab", name="Moderation log").click()
    await alice.get_by_text("No moderation actions yet.").wait_for()
    await shots.take(alice, "posts-after-reload")

    assert real_errors(errors) == []


async def test_invite_link_is_single_use(dev_server: RunningServer, browser: Any, request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    owner = await new_page(browser, dev_server.url, errors=errors)
    await dev_sign_in(owner, uid("owner"), "Owner")
    await owner.get_by_text("Create a community").click()
    form = owner.get_by_test_id("create-community")
    await form.get_by_label("Name").fill(f"Private {secrets.token_hex(3)}")
    await form.get_by_label("Who can join").select_option("invite")
    await form.get_by_role("button", name="Create community").click()
    await owner.get_by_role("button", name="Invite").click()
    link = await owner.get_by_test_id("invite-link").input_value()
    assert re.fullmatch(re.escape(dev_server.url) + r"/#/invite/[A-Za-z0-9_-]+", link), link
    await shots.take(owner, "invite-link")

    # A newcomer follows the link before signing in: sign-in, then back to the invitation.
    guest = await new_page(browser, dev_server.url, errors=errors)
    await guest.goto(link)
    await guest.get_by_test_id("dev-signin").wait_for()
    form = guest.get_by_test_id("dev-signin")
    await form.get_by_label("User id").fill(uid("guest"))
    await form.get_by_role("button", name="Sign in").click()
    await guest.get_by_test_id("accept-invite").click()
    await guest.get_by_test_id("my-role").filter(has_text="member").wait_for()
    await shots.take(guest, "invite-accepted")

    # The same link again, by someone else: the contract's invite_invalid, said in words.
    other = await new_page(browser, dev_server.url, errors=errors)
    await dev_sign_in(other, uid("late"), "Late")
    await other.goto(link)
    await other.get_by_test_id("accept-invite").click()
    await other.get_by_test_id("invite-error").filter(has_text="expired, was used or was revoked").wait_for()
    assert real_errors(errors) == []


async def test_token_sign_in_outside_dev_mode(sqlite_url: str, browser: Any, request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    async with run_server(settings(database_url=sqlite_url)) as srv:
        page = await new_page(browser, srv.url, errors=errors)
        await page.goto("/")
        await page.get_by_test_id("token-signin").wait_for()
        assert await page.get_by_test_id("dev-signin").count() == 0
        await page.get_by_label("Token").fill("not-a-token")
        await page.get_by_role("button", name="Sign in with token").click()
        await page.get_by_test_id("signin-error").filter(has_text="not valid").wait_for()
        await shots.take(page, "bad-token")
        user = uid("tok")
        await page.get_by_label("Token").fill(srv.token(user, "Zoë زوي"))
        await page.get_by_role("button", name="Sign in with token").click()
        await page.get_by_test_id("me").filter(has_text="Zoë زوي").wait_for()
        # The token survives a reload (localStorage), and signing out forgets it.
        await page.reload()
        await page.get_by_test_id("me").filter(has_text="Zoë").wait_for()
        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_test_id("token-signin").wait_for()
        assert await page.evaluate("localStorage.getItem('live.token')") is None
    assert real_errors(errors) == []


async def test_sign_out_while_the_start_up_check_is_on_its_way(
    sqlite_url: str, browser: Any, request: Any
) -> None:
    """Signing out while the start-up `GET /v1/me` is held keeps the person signed out.

    Its late answer once saved the cleared session back as the token "null" and opened the
    gateway with `?token=null`; the test holds that request until after the click.
    """
    errors: list[str] = []
    async with run_server(settings(database_url=sqlite_url)) as srv:
        page = await new_page(browser, srv.url, errors=errors)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await page.goto("/")
        await page.get_by_label("Token").fill(srv.token(uid("tok"), "Zoë"))
        await page.get_by_role("button", name="Sign in with token").click()
        await page.get_by_test_id("me").filter(has_text="Zoë").wait_for()

        held: asyncio.Queue[Any] = asyncio.Queue()
        await page.route("**/v1/me", held.put_nowait)
        await page.reload()
        route = await asyncio.wait_for(held.get(), 30)  # boot's check, on its way
        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_test_id("token-signin").wait_for()
        async with page.expect_response("**/v1/me"):
            await route.continue_()
        await page.evaluate("new Promise((ok) => setTimeout(ok, 200))")  # boot's last steps
        assert await page.evaluate("localStorage.getItem('live.token')") is None
        assert await page.get_by_test_id("token-signin").count() == 1
        assert not [u for u in sockets if "token=null" in u]
    assert real_errors(errors) == []


async def _wait_attr(locator: Any, name: str, value: str) -> None:
    await locator.page.wait_for_function(
        "([el, name, value]) => el.getAttribute(name) === value",
        arg=[await locator.element_handle(), name, value],
    )


async def test_groups_chat_and_announcements(dev_server: RunningServer, browser: Any, request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    admin_id, member_id = uid("adm"), uid("mem")
    async with dev_server.client(admin_id, "Ada") as ada, dev_server.client(member_id, "Omar عمر") as omar:
        res = await ada.post(
            "/v1/communities", json={"name": f"Book club {secrets.token_hex(3)}", "join_policy": "open"}
        )
        cid = res.json()["id"]
        assert (await omar.post(f"/v1/communities/{cid}/join")).status_code == 200

    admin = await new_page(browser, dev_server.url, errors=errors)
    await dev_sign_in(admin, admin_id, "Ada")
    await admin.goto(f"/#/c/{cid}/groups")
    await admin.get_by_text("No groups yet.").wait_for()
    await admin.get_by_text("Admin: new group, announcement").click()
    await admin.get_by_label("Group name").fill("Poetry شعر")
    await admin.get_by_role("button", name="Create group").click()
    group = admin.get_by_test_id("group").filter(has_text="Poetry")
    await group.wait_for()
    await group.get_by_role("button", name="Join").click()
    await group.get_by_role("button", name="Leave").wait_for()

    member = await new_page(browser, dev_server.url, viewport=PHONE, errors=errors)
    await dev_sign_in(member, member_id, "Omar عمر")
    await member.goto(f"/#/c/{cid}/groups")
    mgroup = member.get_by_test_id("group").filter(has_text="Poetry")
    await mgroup.get_by_role("button", name="Join").click()
    await mgroup.get_by_role("button", name="Leave").wait_for()

    # An announcement reaches the member's open page at once (the community room).
    await admin.get_by_test_id("announcement-text").fill("Meeting on Friday — اجتماع يوم الجمعة")
    await admin.get_by_role("button", name="Announce").click()
    await member.get_by_test_id("announcement").filter(has_text="Meeting on Friday").wait_for(timeout=10000)

    # The group's chat, both ways.
    await group.get_by_role("button", name="Chat").click()
    await mgroup.get_by_role("button", name="Chat").click()
    await member.get_by_test_id("chat-input").fill("أهلا everyone")
    await member.get_by_test_id("chat-send").click()
    await admin.get_by_test_id("chat-message").filter(has_text="everyone").wait_for()
    await admin.get_by_test_id("chat-input").fill("Hi Omar")
    await admin.keyboard.press("Enter")
    await member.get_by_test_id("chat-message").filter(has_text="Hi Omar").wait_for()
    await shots.take(admin, "groups-admin")
    await shots.take(member, "groups-member-phone", full_page=True)

    # The admin deletes the member's line from the chat, with a reason: gone on both pages, and
    # the moderation log (visible to members) says so.
    line = admin.get_by_test_id("chat-message").filter(has_text="everyone")
    await line.get_by_test_id("content-menu").click()  # the line's menu: report, block, moderate
    await line.get_by_test_id("moderate").click()
    dialog = admin.get_by_test_id("mod-dialog")
    assert await dialog.get_by_test_id("mod-action").input_value() == "delete"
    await dialog.get_by_test_id("mod-reason").fill("off topic")
    await dialog.get_by_test_id("mod-submit").click()
    await member.locator("[data-testid=chat-message][data-deleted=true]").wait_for(timeout=10000)
    await member.get_by_test_id("moderation-notice").filter(has_text="off topic").wait_for(timeout=10000)
    # A time-out (5 minutes by default): the member is told, and their next message is refused
    # with the time it ends.
    await member.get_by_test_id("chat-input").fill("one more")
    await member.get_by_test_id("chat-send").click()
    theirs = admin.get_by_test_id("chat-message").filter(has_text="one more")
    await theirs.get_by_test_id("content-menu").click()
    await theirs.get_by_test_id("moderate").click()
    await dialog.get_by_test_id("mod-action").select_option("timeout")
    assert await dialog.get_by_test_id("mod-duration").input_value() == "300"
    await dialog.get_by_test_id("mod-reason").fill("cool down")
    await dialog.get_by_test_id("mod-submit").click()
    await dialog.wait_for(state="detached")
    await member.get_by_test_id("moderation-notice").filter(has_text="timed out").wait_for(timeout=10000)
    await member.get_by_test_id("chat-input").fill("but why")
    await member.get_by_test_id("chat-send").click()
    await member.get_by_test_id("chat-status").filter(has_text="muted").wait_for(timeout=10000)
    assert await member.get_by_test_id("chat-input").input_value() == "but why"  # not lost
    await member.get_by_role("tab", name="Moderation log").click()
    await member.get_by_test_id("modlog-entry").filter(has_text="off topic").wait_for()
    await member.get_by_test_id("modlog-entry").filter(has_text="cool down").wait_for()
    await shots.take(member, "modlog-member-phone")
    assert real_errors(errors) == []
