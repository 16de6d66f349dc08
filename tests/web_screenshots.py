"""Screenshots of the web client's main pages, in Arabic and English, phone and desktop, for
docs/web.md: `python -m tests.web_screenshots [OUT_DIR]` (default docs/screenshots).

It runs a real `live` server (dev mode, SQLite in a temporary directory), fills it with a small
community of mothers over the HTTP API (posts with photos, a report, an appeal, a live with
chat), and photographs each page with Debian's Chromium (fake camera). Not a test: it asserts
nothing beyond the pages loading; the Arabic pages are checked by test_web_arabic.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from live.storage import migrate
from tests.support.browser import DESKTOP, PHONE, chromium, new_page, token_sign_in
from tests.support.communities import Person
from tests.support.images import photo
from tests.support.servers import RunningServer, run_server, settings

LANGS = {"ar": "ar-EG", "en": "en-US"}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


def person(server: RunningServer, name: str, user_id: str) -> Person:
    p = Person(server, "u")
    p.id, p.name = user_id, name
    p.http.headers["Authorization"] = f"Bearer {server.token(user_id, name)}"
    return p


async def upload(p: Person, color: tuple[int, int, int], size: tuple[int, int]) -> str:
    files = {"file": ("photo.jpg", photo(size, color=color, gps=False), "image/jpeg")}
    res = await p.http.post("/v1/uploads", files=files)
    assert res.status_code == 201, res.text
    return str(res.json()["id"])


async def seed(server: RunningServer) -> dict[str, Any]:
    """A community of mothers with posts, photos, a report, an appeal and a join request."""
    sara = person(server, "سارة", "sara")
    hind = person(server, "هند", "hind")
    mona = person(server, "منى", "mona")
    rana = person(server, "Rana رنا", "rana")
    troll = person(server, "مزعج", "troll")
    c = await sara.ok("POST", "/v1/communities", 201, json={
        "name": "أمهات القاهرة", "description": "مساحة آمنة للأمهات: نصائح، وصفات، ودعم في الأيام الصعبة.",
        "topics": ["أمومة", "تربية"], "join_policy": "open", "read_policy": "public"})
    await sara.ok("POST", "/v1/communities", 201, json={
        "name": "Reading with kids — القراءة مع الأطفال",
        "description": "Book ideas for every age, in Arabic and English.",
        "topics": ["books"], "join_policy": "invite", "read_policy": "public"})
    cid = c["id"]
    for p in (hind, mona, rana, troll):
        await p.ok("POST", f"/v1/communities/{cid}/join")
    await sara.ok("PATCH", f"/v1/communities/{cid}/members/{mona.id}", json={"role": "moderator"})
    rude = await troll.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "كلام جارح لا مكان له هنا"})
    await hind.ok("POST", f"/v1/communities/{cid}/reports", 201,
                  json={"target": {"type": "post", "id": rude["id"]}, "reason": "إساءة لإحدى الأمهات"})
    media = [await upload(hind, (224, 122, 95), (800, 600)), await upload(hind, (61, 64, 91), (600, 800))]
    await hind.ok("POST", f"/v1/communities/{cid}/posts", 201,
                  json={"text": "نزهة اليوم في حديقة الأزهر مع الصغار 🌳", "media_ids": media})
    post = await rana.ok("POST", f"/v1/communities/{cid}/posts", 201,
                         json={"text": "Any tips for a toddler who won't sleep? أي نصيحة لطفل لا ينام؟"})
    await hind.ok("POST", f"/v1/posts/{post['id']}/comments", 201, json={"text": "روتين ثابت قبل النوم ساعدنا كثيرًا"})
    await hind.ok("POST", f"/v1/posts/{post['id']}/like")
    action = await mona.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                           json={"action": "timeout", "user_id": troll.id, "duration_seconds": 3600,
                                 "reason": "الإساءة ممنوعة هنا"})
    await troll.ok("POST", f"/v1/moderation/{action['id']}/appeal", 201, json={"text": "لم أقصد الإساءة، أعتذر"})
    await hind.ok(
        "POST", "/v1/reports", 201, json={"target": {"type": "user", "id": troll.id}, "reason": "رسائل مزعجة"}
    )
    return {"cid": cid, "people": {p.id: p for p in (sara, hind, mona, rana, troll)}}


async def shoot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    db = Path(tempfile.mkdtemp(prefix="live-shots-")) / "live.db"
    url = f"sqlite+aiosqlite:///{db}"
    await migrate.upgrade(url)
    cfg = settings(database_url=url, dev=True, var_dir=str(db.parent), insights_min_members=1,
                   operators=frozenset({"sara"}), live_grace_seconds=600, thumbnail_seconds=0)
    async with run_server(cfg) as server, chromium() as browser:
        data = await seed(server)
        cid, people = data["cid"], data["people"]
        # A live hosted from the fake camera, with a few chat lines and one pinned.
        host = await new_page(browser, server.url, locale="ar-EG")
        await token_sign_in(host, server.token("hind", "هند"), "hind", "هند", f"/#/c/{cid}/golive")
        await host.get_by_test_id("live-title").fill("سهرة أسئلة عن النوم")
        await host.get_by_test_id("start-live").click()
        await host.get_by_test_id("host-view").wait_for()
        lid = host.url.rsplit("/", 1)[-1]
        for text in ("أهلًا بكم جميعًا، اسألوا ما شئتم", "متى يبدأ الروتين المسائي عادة؟"):
            await host.get_by_test_id("chat-input").fill(text)
            await host.get_by_test_id("chat-send").click()
            await host.get_by_test_id("chat-message").filter(has_text=text).wait_for()
        line = host.get_by_test_id("chat-message").first
        seq = int(await line.get_attribute("data-seq") or "1")
        await people["sara"].ok("PUT", f"/v1/live/{lid}/pin", json={"seq": seq})
        await people["sara"].ok("PATCH", f"/v1/communities/{cid}/moderation/chat",
                                json={"slow_mode_seconds": 10, "blocked_words": ["شتيمة"]})

        pages = [
            ("home", "sara", "/#/", None),
            ("community-posts", "hind", f"/#/c/{cid}/posts", "gallery"),
            ("live", "sara", f"/#/live/{lid}", "pinned"),
            ("reports", "sara", f"/#/c/{cid}/reports", "report"),
            ("insights", "sara", f"/#/c/{cid}/insights", "chart-posts"),
            ("my-reports", "hind", "/#/me/reports", "my-report"),
            ("settings", "hind", "/#/settings", "blocked-list"),
            ("operators", "sara", "/#/admin", "admin-report"),
        ]
        for lang, locale in LANGS.items():
            for kind, viewport in VIEWPORTS.items():
                for name, who, path, ready in pages:
                    page = await new_page(browser, server.url, viewport=viewport, locale=locale)
                    p = people[who]
                    await token_sign_in(page, server.token(p.id, p.name), p.id, p.name, path)
                    if ready:
                        await page.get_by_test_id(ready).first.wait_for()
                    await page.wait_for_timeout(600)  # images and charts settle (a picture, not a test)
                    await page.evaluate("() => document.getElementById('toasts').replaceChildren()")
                    await page.screenshot(path=str(out / f"{name}-{lang}-{kind}.png"))
                    await page.context.close()
        await host.context.close()
        for p in people.values():
            await p.http.aclose()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    asyncio.run(shoot(out))
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main()
