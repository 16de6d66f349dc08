"""The web client in Arabic, right to left, in a real Chromium: the main journeys of a safe
community, each page checked for right-to-left layout and for interface text left untranslated.

The browser's language is Arabic (`locale="ar-EG"`), so the client opens in Arabic by itself.
People's names and words are Arabic here, so any Latin letters left on a page (outside the
product's name and format names, user ids, and user text with `dir="auto"`) are an untranslated
interface string. A text missing from a catalog logs an error, and every test asserts there was
none. Screenshots of the steps go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    DESKTOP,
    PHONE,
    Shots,
    assert_rtl,
    chromium,
    new_page,
    token_sign_in,
    until,
    untranslated,
)
from tests.support.communities import Person, make_community
from tests.support.images import photo
from tests.support.servers import RunningServer, run_server, settings, uid

pytestmark = pytest.mark.timeout(240)

AR = "ar-EG"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as running:
        yield running


def real_errors(errors: list[str]) -> list[str]:
    """Page errors, without the console lines Chromium prints for every 4xx a test provokes."""
    return [e for e in errors if "Failed to load resource" not in e]


class Arabic:
    """People with Arabic names, each with an HTTP client and (when asked) a page in Arabic."""

    def __init__(self, server: RunningServer, browser: Any, errors: list[str]) -> None:
        self.server, self.browser, self.errors = server, browser, errors
        self.people: list[Person] = []
        self.words: list[str] = []  # other user strings in Latin letters (file names)

    def person(self, name: str) -> Person:
        p = Person(self.server, "u")
        p.name = name
        p.http.headers["Authorization"] = f"Bearer {self.server.token(p.id, name)}"
        self.people.append(p)
        return p

    async def page(self, who: Person, path: str, viewport: dict[str, int] = PHONE) -> Any:
        page = await new_page(self.browser, self.server.url, viewport=viewport, errors=self.errors, locale=AR)
        await token_sign_in(page, self.server.token(who.id, who.name), who.id, who.name, path)
        return page

    @property
    def known(self) -> list[str]:
        """Strings a page may show in Latin letters that are not interface text: user ids."""
        return [p.id for p in self.people] + self.words

    async def check(self, page: Any) -> None:
        await assert_rtl(page)
        assert await untranslated(page, self.known) == []

    async def close(self) -> None:
        for p in self.people:
            await p.http.aclose()


@pytest.fixture
async def server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    operator = f"op-{secrets.token_hex(3)}"
    cfg = settings(database_url=sqlite_url, dev=True, var_dir=str(tmp_path), insights_min_members=1,
                   upload_max_bytes=200_000,
                   operators=frozenset({operator}), live_grace_seconds=600, thumbnail_seconds=0)
    async with run_server(cfg) as running:
        running.operator = operator  # type: ignore[attr-defined]
        yield running


async def test_posts_images_reports_blocking_and_appeals_in_arabic(server: RunningServer, browser: Any,
                                                                   request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    ar = Arabic(server, browser, errors)
    sara, hind, mona, troll = ar.person("سارة"), ar.person("هند"), ar.person("منى"), ar.person("مزعج")
    c = await make_community(sara, name="أمهات القاهرة", description="مساحة آمنة للأمهات", read_policy="public",
                             topics=["أمومة"])
    cid = c["id"]
    for p in (hind, mona, troll):
        await p.ok("POST", f"/v1/communities/{cid}/join")
    await sara.ok("PATCH", f"/v1/communities/{cid}/members/{mona.id}", json={"role": "moderator"})
    await troll.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "كلام جارح ومسيء"})

    # Hind, on a phone: the community in Arabic, right to left.
    page = await ar.page(hind, f"/#/c/{cid}/posts")
    await page.get_by_test_id("post").filter(has_text="كلام جارح").wait_for()
    assert await page.get_by_role("tab", name="المنشورات").get_attribute("aria-selected") == "true"
    assert "٤ أعضاء" in await page.locator(".community-head").inner_text()  # Arabic digits and plural
    await ar.check(page)
    await shots.take(page, "community-posts")
    # The tabs' arrow keys follow the reading direction: in Arabic the left arrow goes forward.
    await page.get_by_role("tab", name="المنشورات").focus()
    await page.keyboard.press("ArrowLeft")
    assert await page.get_by_role("tab", name="المجموعات").get_attribute("aria-selected") == "true"
    await page.keyboard.press("ArrowRight")
    assert await page.get_by_role("tab", name="المنشورات").get_attribute("aria-selected") == "true"

    ar.words += ["park.jpg", "cake.png", "notes.txt", "huge.jpg"]
    # A post with two photos: each uploads with its progress bar, then the post shows a gallery.
    await page.get_by_test_id("post-images").set_input_files(files=[
        {"name": "park.jpg", "mimeType": "image/jpeg", "buffer": photo((800, 600))},
        {"name": "cake.png", "mimeType": "image/png", "buffer": photo((600, 600), "PNG", gps=False)},
    ])
    await page.locator("[data-testid=attachment][data-uploaded=true]").nth(1).wait_for()
    assert await page.get_by_test_id("upload-progress").evaluate_all("els => els.map(e => e.value)") == [100, 100]
    await page.get_by_test_id("post-text").fill("نزهة اليوم في الحديقة")
    await page.get_by_role("button", name="نشر", exact=True).click()
    mine = page.get_by_test_id("post").filter(has_text="نزهة اليوم")
    await mine.get_by_test_id("gallery").wait_for()
    assert await mine.get_by_test_id("gallery-image").count() == 2
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.gallery-thumb')].slice(0, 2)"
        ".every((i) => i.complete && i.naturalWidth > 0)"
    )
    await mine.get_by_test_id("gallery-image").first.click()
    viewer = page.get_by_test_id("image-viewer")
    await viewer.wait_for()
    assert await viewer.locator("p").inner_text() == "الصورة ١ من ٢"
    await page.keyboard.press("ArrowLeft")  # right to left: the left arrow goes forward
    await viewer.locator("p").filter(has_text="الصورة ٢ من ٢").wait_for()
    await page.keyboard.press("Escape")
    await viewer.wait_for(state="detached")
    # A comment of one's own, deleted from its menu after a confirmation.
    await mine.get_by_test_id("comments-toggle").click()
    await mine.get_by_test_id("comment-text").fill("تعليق سأحذفه")
    await mine.get_by_role("button", name="تعليق", exact=True).click()
    comment = mine.get_by_test_id("comment").filter(has_text="تعليق سأحذفه")
    await comment.get_by_test_id("content-menu").click()
    await comment.get_by_test_id("delete-comment").click()
    await page.get_by_test_id("confirm-submit").click()
    await comment.wait_for(state="detached")
    assert (await mine.get_by_test_id("comments-toggle").inner_text()).split() == ["التعليقات", "٠"]
    # A file that is not an image: the contract's unsupported_media_type, in Arabic.
    await page.get_by_test_id("post-images").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}])
    await page.get_by_test_id("post-error").filter(has_text="يمكن إضافة صور JPEG وPNG وWebP فقط.").wait_for()
    await ar.check(page)
    # One over the size limit: payload_too_large, in Arabic; the failed ones are removed.
    await page.get_by_test_id("post-images").set_input_files(
        files=[{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": secrets.token_bytes(300_000)}])
    await page.get_by_test_id("post-error").filter(has_text="الحجم أكبر من المسموح.").wait_for()
    for _ in range(2):
        await page.get_by_test_id("attachment").first.get_by_role("button").click()
    assert await page.get_by_test_id("attachment").count() == 0

    # Report the rude post from its menu, then block its author: their post goes at once.
    rude_post = page.get_by_test_id("post").filter(has_text="كلام جارح")
    await rude_post.get_by_test_id("content-menu").click()
    menu = page.get_by_role("menu")
    await menu.wait_for()
    assert await menu.get_by_role("menuitem").first.evaluate("el => el === document.activeElement")
    await ar.check(page)
    await shots.take(page, "post-menu")
    await menu.get_by_test_id("menu-report").click()
    dialog = page.get_by_test_id("report-dialog")
    await dialog.get_by_test_id("report-reason").fill("إساءة لإحدى الأمهات")
    await ar.check(page)
    await shots.take(page, "report-dialog")
    await dialog.get_by_test_id("report-dialog-submit").click()
    await dialog.wait_for(state="detached")
    await page.locator(".toast").filter(has_text="أُرسل بلاغك").wait_for()
    await rude_post.get_by_test_id("content-menu").click()
    await page.get_by_test_id("menu-block").click()
    await page.get_by_test_id("block-dialog-submit").click()
    await rude_post.wait_for(state="hidden")
    assert (await hind.ok("GET", "/v1/me/blocks"))["items"][0]["user_id"] == troll.id

    # Settings: the blocked person is listed, and can be unblocked.
    await page.goto("/#/settings")
    await page.get_by_test_id("blocked-person").wait_for()
    await ar.check(page)
    await shots.take(page, "settings", full_page=True)
    await page.get_by_test_id("unblock").click()
    await page.get_by_test_id("blocked-list").filter(has_text="لا أحد.").wait_for()

    # The moderator answers the report and mutes the author, from the Reports tab.
    modpage = await ar.page(mona, f"/#/c/{cid}/reports", DESKTOP)
    report = modpage.get_by_test_id("report").filter(has_text="إساءة لإحدى الأمهات")
    await report.wait_for()
    await report.locator("blockquote").filter(has_text="كلام جارح").wait_for()
    await ar.check(modpage)
    await shots.take(modpage, "reports-tab")
    await report.get_by_test_id("report-moderate").click()
    mod = modpage.get_by_test_id("mod-dialog")
    await mod.get_by_test_id("mod-action").select_option("mute")
    await mod.get_by_test_id("mod-reason").fill("الإساءة ممنوعة هنا")
    # The troll's page is open when it happens: the notice arrives there, with "Appeal".
    trollpage = await ar.page(troll, f"/#/c/{cid}/posts")
    await trollpage.wait_for_function("() => window.live.gateway.status === 'open'")
    await mod.get_by_test_id("mod-submit").click()
    await mod.wait_for(state="detached")
    await report.get_by_test_id("resolve").click()
    await modpage.get_by_test_id("resolve-dialog-text").fill("كتمنا صاحب المنشور، شكرًا لك")
    await modpage.get_by_test_id("resolve-dialog-submit").click()
    await modpage.get_by_test_id("resolve-dialog").wait_for(state="detached")

    # Hind reads the answer in "My reports and appeals".
    await page.goto("/#/me/reports")
    answered = page.get_by_test_id("my-report").filter(has_text="كتمنا صاحب المنشور")
    await answered.wait_for()
    await ar.check(page)
    await shots.take(page, "my-reports")
    # The notification of the answer, in Arabic (the server writes it in English for every
    # delivery; the page rewrites what it knows by kind), with the answer as written.
    await page.get_by_test_id("bell").click()
    note = page.get_by_test_id("notification").filter(has_text="وصل ردّ على بلاغك")
    await note.filter(has_text="كتمنا صاحب المنشور").wait_for()
    await ar.check(page)

    # The muted author is told why, appeals from the notice, and the owner overturns it.
    notice = trollpage.get_by_test_id("moderation-notice")
    await notice.filter(has_text="الإساءة ممنوعة هنا").wait_for()
    assert "كُتمت في" in await notice.inner_text()
    await ar.check(trollpage)
    await shots.take(trollpage, "notice")
    await notice.get_by_test_id("appeal-notice").click()
    await trollpage.get_by_test_id("appeal-text").fill("لم أقصد الإساءة، أعتذر")
    await trollpage.get_by_test_id("appeal-dialog-submit").click()
    await notice.get_by_test_id("appeal-pending").wait_for()
    # A muted member's post is refused with the contract's code, in Arabic.
    await trollpage.get_by_test_id("post-text").fill("محاولة")
    await trollpage.get_by_role("button", name="نشر", exact=True).click()
    await trollpage.locator(".toast.error").filter(has_text="حسابك مكتوم في هذا المجتمع").wait_for()

    owner = await ar.page(sara, f"/#/c/{cid}/reports", DESKTOP)
    appeal = owner.get_by_test_id("appeal").filter(has_text="لم أقصد الإساءة")
    await appeal.wait_for()
    await ar.check(owner)
    await appeal.get_by_test_id("overturn").click()
    await owner.get_by_test_id("decide-dialog-text").fill("نقبل اعتذارك، أهلًا بك")
    await owner.get_by_test_id("decide-dialog-submit").click()
    await owner.get_by_test_id("appeal").filter(has_text="قُبل الاعتراض").wait_for()
    await trollpage.goto("/#/me/reports")
    await trollpage.get_by_test_id("appeal-status").filter(has_text="قُبل الاعتراض").wait_for()
    await ar.check(trollpage)
    # The log says all of it, to every member, in Arabic.
    await page.goto(f"/#/c/{cid}/moderation")
    await page.get_by_test_id("modlog-entry").filter(has_text="كتم").first.wait_for()
    await ar.check(page)
    await shots.take(page, "modlog")
    assert real_errors(errors) == []
    await ar.close()


async def test_join_requests_chat_settings_pinning_insights_operators_and_my_data_in_arabic(
        server: RunningServer, browser: Any, request: Any) -> None:
    shots = Shots(request.node.name)
    errors: list[str] = []
    ar = Arabic(server, browser, errors)
    sara, amal, nour, hala = ar.person("سارة"), ar.person("أمل"), ar.person("نور"), ar.person("هالة")
    op = ar.person("فريق المنصة")
    op.id = server.operator  # type: ignore[attr-defined]
    op.http.headers["Authorization"] = f"Bearer {server.token(op.id, op.name)}"
    c = await make_community(sara, name="حلقة الأمهات الجدد", join_policy="invite", read_policy="public")
    cid = c["id"]

    # Insights need more members than the threshold (1 here): the owner alone is told why not.
    owner = await ar.page(sara, f"/#/c/{cid}/insights", DESKTOP)
    await owner.get_by_test_id("insights-error").filter(has_text="تظهر الإحصاءات حين يكبر المجتمع").wait_for()
    await ar.check(owner)

    # Amal asks to join the invite-only community, with a word to the moderators.
    amalpage = await ar.page(amal, f"/#/c/{cid}")
    await amalpage.get_by_test_id("ask-to-join").click()
    await amalpage.get_by_test_id("join-message").fill("أنا أم لطفلين وأحب المشاركة")
    await ar.check(amalpage)
    await amalpage.get_by_test_id("join-request-dialog-submit").click()
    await amalpage.locator(".toast").filter(has_text="أُرسل طلبك").wait_for()

    await owner.goto(f"/#/c/{cid}/requests")
    req = owner.get_by_test_id("join-request").filter(has_text="أنا أم لطفلين")
    await req.wait_for()
    await ar.check(owner)
    await shots.take(owner, "join-requests")
    await req.get_by_test_id("approve").click()
    await req.wait_for(state="detached")
    assert (await amal.ok("GET", f"/v1/communities/{cid}"))["my_role"] == "member"
    for who in (nour, hala):
        code = (await sara.ok("POST", f"/v1/communities/{cid}/invites", 201, json={}))["code"]
        await who.ok("POST", f"/v1/invites/{code}/accept")

    # The community's settings (rules, who sees the members) and roles, from its tabs.
    await owner.goto(f"/#/c/{cid}/settings")
    await owner.get_by_test_id("setting-rules").fill("الاحترام أولًا، ولا نصائح طبية بلا مصدر.")
    await owner.get_by_test_id("setting-member_list").select_option("public")
    await owner.get_by_test_id("community-save").click()
    await owner.locator(".community-head details").filter(has_text="الاحترام أولًا").wait_for()
    assert (await amal.ok("GET", f"/v1/communities/{cid}"))["member_list"] == "public"
    await ar.check(owner)
    await owner.get_by_role("tab", name="الأعضاء").click()
    row = owner.get_by_test_id("member").filter(has_text="نور")
    await row.get_by_test_id("member-role").select_option("moderator")
    await owner.locator(".toast").filter(has_text="دور نور الآن: مشرف").wait_for()
    await ar.check(owner)
    await shots.take(owner, "members")
    # Invitations: a new link, listed with the two used ones, revoked.
    await owner.get_by_role("button", name="دعوة", exact=True).click()
    code = (await owner.get_by_test_id("invite-link").input_value()).rsplit("/", 1)[-1]
    await owner.get_by_test_id("invites-box").locator("summary").click()
    await owner.get_by_test_id("invite").filter(has_text="استخدمه").nth(1).wait_for()
    mine = owner.locator(f"[data-testid=invite][data-code='{code}']")
    await mine.get_by_test_id("revoke-invite").click()
    await owner.locator(f"[data-testid=invite][data-code='{code}']").filter(has_text="أُلغي").wait_for()
    await ar.check(owner)
    assert (await hala.call("POST", f"/v1/invites/{code}/accept")).status_code == 410

    # A live with its chat: the owner sets slow mode and a filtered word from the live page,
    # pins a message; a member's message with the word is refused in Arabic.
    live = await nour.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "سهرة أسئلة وأجوبة"})
    await owner.goto(f"/#/live/{live['id']}")
    await owner.get_by_test_id("chat-input").fill("أهلًا بكم جميعًا، اسألوا ما شئتم")
    await owner.get_by_test_id("chat-send").click()
    line = owner.get_by_test_id("chat-message").filter(has_text="اسألوا ما شئتم")
    await line.wait_for()
    await line.get_by_test_id("content-menu").click()
    await owner.get_by_test_id("menu-pin").click()
    await owner.get_by_test_id("pinned").filter(has_text="اسألوا ما شئتم").wait_for()
    await owner.get_by_test_id("chat-settings").locator("summary").click()
    await owner.get_by_test_id("slow-mode").select_option("10")
    await owner.get_by_test_id("blocked-words").fill("شتيمة")
    await owner.get_by_test_id("chat-settings-save").click()
    await owner.locator(".toast").filter(has_text="حُفظت إعدادات الدردشة").wait_for()
    await ar.check(owner)
    await shots.take(owner, "live-chat-settings")
    viewer = await ar.page(amal, f"/#/live/{live['id']}")
    await viewer.get_by_test_id("pinned").filter(has_text="اسألوا ما شئتم").wait_for()
    await viewer.get_by_test_id("chat-input").fill("هذه شتيمة")
    await viewer.get_by_test_id("chat-send").click()
    await viewer.get_by_test_id("chat-status").filter(has_text="يحتوي النص على كلمة يحجبها هذا المجتمع.").wait_for()
    await viewer.get_by_test_id("chat-input").fill("سؤالي عن النوم")
    await viewer.get_by_test_id("chat-send").click()
    await viewer.get_by_test_id("chat-message").filter(has_text="سؤالي عن النوم").wait_for()
    await viewer.get_by_test_id("chat-input").fill("وسؤال آخر")
    await viewer.get_by_test_id("chat-send").click()
    await viewer.get_by_test_id("chat-status").filter(has_text="الوضع البطيء مفعّل").wait_for()
    await ar.check(viewer)
    await shots.take(viewer, "live-viewer-phone")

    # Insights, with charts.
    await nour.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "منشور للإحصاءات"})
    await owner.goto(f"/#/c/{cid}/insights")
    for chart in ("chart-members", "chart-posts", "chart-lives", "chart-watch"):
        await owner.get_by_test_id(chart).locator("svg").wait_for()
    assert await owner.get_by_test_id("chart-posts").locator("rect").count() == 28
    await ar.check(owner)
    await shots.take(owner, "insights")

    # An account report to the platform; the operator suspends the account and answers.
    await amal.ok(
        "POST", "/v1/reports", 201, json={"target": {"type": "user", "id": nour.id}, "reason": "رسائل مزعجة في الخاص"}
    )
    oppage = await ar.page(op, "/#/admin", DESKTOP)
    await oppage.get_by_test_id("nav-admin").wait_for()
    rep = oppage.get_by_test_id("admin-report").filter(has_text="رسائل مزعجة")
    await rep.wait_for()
    await ar.check(oppage)
    await rep.get_by_test_id("admin-suspend-from-report").click()
    await oppage.get_by_test_id("suspend-reason").fill("إزعاج متكرر")
    await oppage.get_by_test_id("suspend-dialog-submit").click()
    await oppage.get_by_test_id("admin-log").get_by_test_id("modlog-entry").filter(has_text="إزعاج متكرر").wait_for()
    await rep.get_by_test_id("admin-resolve").click()
    await oppage.get_by_test_id("admin-resolve-dialog-text").fill("أوقفنا الحساب")
    await oppage.get_by_test_id("admin-resolve-dialog-submit").click()
    await oppage.get_by_test_id("admin-report").filter(has_text="أوقفنا الحساب").wait_for()
    await ar.check(oppage)
    await shots.take(oppage, "operators")
    assert (await nour.ok("GET", "/v1/me/account"))["suspended"] is True
    # Nobody else reaches the operators' page.
    await amalpage.goto("/#/admin")
    await amalpage.get_by_test_id("admin-error").filter(has_text="لا تسمح صلاحياتك بذلك").first.wait_for()

    # My data: the owner cannot erase while owning a community (said in Arabic); Amal downloads
    # her data, then erases her account after typing her id.
    await owner.goto("/#/settings")
    await owner.get_by_test_id("erase").click()
    await owner.get_by_test_id("erase-confirm").fill(sara.id)
    await owner.get_by_test_id("erase-dialog-submit").click()
    await owner.get_by_test_id("erase-dialog-error").filter(has_text="ما زال لديك مجتمع تملكه").wait_for()
    await owner.get_by_test_id("erase-dialog-cancel").click()

    await amalpage.goto("/#/settings")
    async with amalpage.expect_download() as info:
        await amalpage.get_by_test_id("export").click()
    download = await info.value
    exported = json.loads(Path(await download.path()).read_text())
    assert exported["user"]["id"] == amal.id and exported["tables"]
    await amalpage.get_by_test_id("erase").click()
    await amalpage.get_by_test_id("erase-confirm").fill("someone-else")
    await amalpage.get_by_test_id("erase-dialog-submit").click()
    await amalpage.get_by_test_id("erase-dialog-error").filter(has_text="هذا ليس معرّف المستخدم").wait_for()
    await ar.check(amalpage)
    await shots.take(amalpage, "erase-dialog")
    await amalpage.get_by_test_id("erase-confirm").fill(amal.id)
    await amalpage.get_by_test_id("erase-dialog-submit").click()
    await amalpage.get_by_test_id("dev-signin").wait_for()
    assert (await sara.ok("GET", f"/v1/communities/{cid}"))["member_count"] == 3

    # The owner hands the community over, then can erase her account.
    await owner.goto(f"/#/c/{cid}/members")
    await owner.get_by_test_id("member").filter(has_text="هالة").get_by_test_id("transfer").click()
    await owner.get_by_test_id("transfer-dialog-submit").click()
    await owner.get_by_test_id("my-role").filter(has_text="مدير").wait_for()
    assert (await hala.ok("GET", f"/v1/communities/{cid}"))["my_role"] == "owner"
    await owner.goto("/#/settings")
    await owner.get_by_test_id("erase").click()
    await owner.get_by_test_id("erase-confirm").fill(sara.id)
    await owner.get_by_test_id("erase-dialog-submit").click()
    await owner.get_by_test_id("dev-signin").wait_for()
    assert real_errors(errors) == []
    await ar.close()


async def test_language_switch_is_remembered(server: RunningServer, browser: Any) -> None:
    errors: list[str] = []
    page = await new_page(browser, server.url, errors=errors)  # an English browser
    user = uid("lang")
    await token_sign_in(page, server.token(user, "Layla"), user, "Layla")
    assert await page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]") == ["en", "ltr"]
    await page.get_by_test_id("language").select_option("ar")
    await page.wait_for_function("() => document.documentElement?.dir === 'rtl'")
    await page.get_by_role("link", name="استكشاف").wait_for()
    await page.reload()
    await page.wait_for_function("() => document.documentElement?.lang === 'ar'")
    assert await page.evaluate("() => localStorage.getItem('live.lang')") == "ar"
    await page.goto("/#/settings")
    await page.get_by_test_id("lang-en").check()
    await page.wait_for_function("() => document.documentElement?.dir === 'ltr'")
    await page.get_by_role("heading", name="Settings").wait_for()
    assert re.search(r"Signed in as", await page.locator("main").inner_text())
    assert real_errors(errors) == []


async def test_pushes_are_shown_in_the_readers_language(server: RunningServer, browser: Any) -> None:
    """The service worker shows a push with its kind's Arabic title; what people wrote stays."""
    errors: list[str] = []
    ar = Arabic(server, browser, errors)
    layla = ar.person("ليلى")
    page = await new_page(browser, server.url, viewport=DESKTOP, errors=errors, locale=AR)
    await page.context.grant_permissions(["notifications"], origin=server.url)
    await token_sign_in(page, server.token(layla.id, layla.name), layla.id, layla.name, "/#/notifications")
    cdp = await page.context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda ev: registrations.extend(r["registrationId"] for r in ev["registrations"] if not r["isDeleted"]))
    await cdp.send("ServiceWorker.enable")
    # Only the click registers the worker (and says the language); without a push service here
    # the subscription itself is refused, and the page says so.
    await page.get_by_test_id("push-toggle").click()
    assert await until(page, "() => navigator.serviceWorker.getRegistrations().then(r => r.length === 1)")
    await page.locator(".toast").first.wait_for()
    assert await until(page, "() => caches.open('live-prefs').then(c => c.match('/__live/lang'))"
                             ".then(r => r ? r.text() : '').then(t => t === 'ar')")
    assert registrations
    note = {"id": "n1", "kind": "live.started", "title": "Hana is live in Mothers", "body": "سهرة أسئلة عن النوم",
            "url": "#/live/x", "actor": {"id": "hana", "name": "هناء"}}
    await cdp.send("ServiceWorker.deliverPushMessage",
                   {"origin": server.url, "registrationId": registrations[-1], "data": json.dumps(note)})
    shown = await until(page, """() => navigator.serviceWorker.ready
        .then((reg) => reg.getNotifications())
        .then((list) => list.length ? list.map((n) => [n.title, n.body, n.lang, n.tag]) : null)""")
    assert shown == [["هناء يبثّ الآن مباشرة", "سهرة أسئلة عن النوم", "ar", "n1"]]
    assert [e for e in real_errors(errors) if "Push API" not in e and "push service" not in e.lower()] == []
    await ar.close()
