"""Text hygiene through the real server: everywhere text enters, zero-width-only text is blank
(422 `invalid_request` naming the field), control characters and bidi overrides are not stored,
and Arabic and Persian writing (with its joiners and direction marks) comes back as written."""

from __future__ import annotations

from typing import Any

from live.client import LiveClient, RequestFailed
from tests.support.communities import add_member, error_of, make_community, people
from tests.support.servers import RunningServer

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f"  # ZWSP ZWNJ ZWJ WJ BOM LRM RLM
DIRTY = "\x1b[31mhi\x07 \u202egnp.exe\u2066x\u2069"
CLEAN = "[31mhi gnp.exex"
ARABIC = "مرحبا بالعالم \u200fمی\u200cخواهم \U0001F468\u200d\U0001F469\u200d\U0001F467 \u2764\ufe0f"


def blank_error(resp: Any, field: str) -> None:
    error = error_of(resp, 422, "invalid_request")
    assert field in error["fields"], error


async def test_community_and_group_text(server: RunningServer) -> None:
    async with people(server, "owner") as (owner,):
        for name in (INVISIBLE, "\u200b", " \u00ad\u034f "):
            blank_error(await owner.call("POST", "/v1/communities", json={"name": name, "join_policy": "open"}),
                        "name")
        blank_error(await owner.call("POST", "/v1/communities", json={
            "name": "ok", "join_policy": "open", "topics": ["\u200b"]}), "topics.0")
        community = await owner.ok("POST", "/v1/communities", 201, json={
            "name": DIRTY, "description": "line one\r\nline\x1btwo",
            "topics": ["#tag\x07"], "join_policy": "open",
        })
        assert community["name"] == CLEAN
        assert community["description"] == "line one\nlinetwo"
        assert community["topics"] == ["tag"]
        cid = community["id"]
        patched = await owner.ok("PATCH", f"/v1/communities/{cid}", json={
            "name": ARABIC, "rules": "1. \u202ebe kind\n2. no\x07 spam", "blocked_words": ["sp\u202eam"],
        })
        assert patched["name"] == ARABIC
        assert patched["rules"] == "1. be kind\n2. no spam"
        assert patched["blocked_words"] == ["spam"]
        blank_error(await owner.call("PATCH", f"/v1/communities/{cid}", json={"name": INVISIBLE}), "name")
        blank_error(await owner.call("PATCH", f"/v1/communities/{cid}", json={"blocked_words": ["\u200b"]}),
                    "blocked_words.0")

        blank_error(await owner.call("POST", f"/v1/communities/{cid}/groups", json={"name": INVISIBLE}), "name")
        group = await owner.ok("POST", f"/v1/communities/{cid}/groups", 201,
                               json={"name": DIRTY, "description": INVISIBLE})
        assert group["name"] == CLEAN and group["description"] == ""
        renamed = await owner.ok("PATCH", f"/v1/groups/{group['id']}", json={"name": ARABIC})
        assert renamed["name"] == ARABIC

        blank_error(await owner.call("POST", f"/v1/communities/{cid}/announcements", json={"text": INVISIBLE}),
                    "text")
        note = await owner.ok("POST", f"/v1/communities/{cid}/announcements", 201, json={"text": DIRTY})
        assert note["text"] == CLEAN
        listed = await owner.ok("GET", f"/v1/communities/{cid}/announcements")
        assert listed["items"][0]["text"] == CLEAN


async def test_posts_comments_and_shares(server: RunningServer) -> None:
    async with people(server, "author") as (author,):
        cid = (await make_community(author))["id"]
        for text in (INVISIBLE, "\u200b", "\ufe0f", "\u202e"):
            blank_error(await author.call("POST", f"/v1/communities/{cid}/posts", json={"text": text}), "text")
        post = await author.ok("POST", f"/v1/communities/{cid}/posts", 201,
                               json={"text": "  first\r\nsecond\t\x1b[0m\u202e  "})
        assert post["text"] == "  first\nsecond\t[0m  "  # posts are not trimmed; only cleaned
        arabic = await author.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": ARABIC})
        assert arabic["text"] == ARABIC
        stored = await author.ok("GET", f"/v1/posts/{arabic['id']}")
        assert stored["text"] == ARABIC

        blank_error(await author.call("POST", f"/v1/posts/{post['id']}/comments", json={"text": INVISIBLE}), "text")
        comment = await author.ok("POST", f"/v1/posts/{post['id']}/comments", 201, json={"text": DIRTY})
        assert comment["text"] == CLEAN
        blank_error(await author.call("POST", f"/v1/posts/{post['id']}/share", json={"text": INVISIBLE}), "text")
        shared = await author.ok("POST", f"/v1/posts/{post['id']}/share", 201, json={"text": DIRTY})
        assert shared["text"] == CLEAN


async def test_live_titles(server: RunningServer) -> None:
    async with people(server, "host") as (host,):
        cid = (await make_community(host))["id"]
        blank_error(await host.call("POST", f"/v1/communities/{cid}/live", json={"title": INVISIBLE}), "title")
        live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": DIRTY})
        assert live["title"] == CLEAN
        await host.ok("POST", f"/v1/live/{live['id']}/end")
        live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": ARABIC})
        assert (await host.ok("GET", f"/v1/live/{live['id']}"))["title"] == ARABIC
        await host.ok("POST", f"/v1/live/{live['id']}/end")


async def test_chat_messages(server: RunningServer) -> None:
    async with people(server, "host", "fan") as (host, fan):
        community = await make_community(host)
        await add_member(host, community, fan)
        live = await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "chat"})
        client = await LiveClient.connect(server.url, server.token(fan.id, fan.name))
        try:
            await client.request("room.join", room=live["room"])
            for text in (INVISIBLE, "\u200b", "\u2060\ufeff"):
                try:
                    await client.request("chat.send", room=live["room"], text=text, nonce=f"n{len(text)}")
                    raise AssertionError(f"{text!r} was accepted")
                except RequestFailed as failed:
                    assert failed.code == "invalid_request"
            await client.request("chat.send", room=live["room"], text=DIRTY, nonce="dirty")
            await client.request("chat.send", room=live["room"], text=ARABIC, nonce="arabic")
            history = await fan.ok("GET", f"/v1/live/{live['id']}/chat")
            assert [m["text"] for m in history["items"]] == [CLEAN, ARABIC]
        finally:
            await client.close()
            await host.ok("POST", f"/v1/live/{live['id']}/end")


async def test_moderation_reasons_reports_and_appeals(server: RunningServer) -> None:
    async with people(server, "owner", "member") as (owner, member):
        community = await make_community(owner)
        cid = community["id"]
        await add_member(owner, community, member)
        post = await member.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "hello"})

        act = {"action": "mute", "user_id": member.id, "duration_seconds": 60}
        blank_error(await owner.call("POST", f"/v1/communities/{cid}/moderation", json={**act, "reason": INVISIBLE}),
                    "reason")
        action = await owner.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                                json={**act, "reason": f"  {DIRTY}  "})
        assert action["reason"] == CLEAN
        log = await member.ok("GET", f"/v1/communities/{cid}/moderation/log")
        assert log["items"][0]["reason"] == CLEAN

        target = {"type": "post", "id": post["id"]}
        blank_error(await owner.call("POST", f"/v1/communities/{cid}/reports",
                                     json={"target": target, "reason": "\u200b\u200d"}), "reason")
        report = await owner.ok("POST", f"/v1/communities/{cid}/reports", 201,
                                json={"target": target, "reason": DIRTY})
        assert report["reason"] == CLEAN
        blank_error(await owner.call("POST", f"/v1/reports/{report['id']}/resolve",
                                     json={"resolution": INVISIBLE}), "resolution")

        blank_error(await member.call("POST", f"/v1/moderation/{action['id']}/appeal", json={"text": INVISIBLE}),
                    "text")
        appeal = await member.ok("POST", f"/v1/moderation/{action['id']}/appeal", 201, json={"text": ARABIC})
        assert appeal["text"] == ARABIC
        decided = await owner.ok("POST", f"/v1/appeals/{appeal['id']}/decide",
                                 json={"decision": "upheld", "response": DIRTY})
        assert decided["response"] == CLEAN


async def test_join_request_messages(server: RunningServer) -> None:
    async with people(server, "owner", "asker", "other") as (owner, asker, other):
        cid = (await make_community(owner, join_policy="invite"))["id"]
        request = await asker.ok("POST", f"/v1/communities/{cid}/join-requests", 201,
                                 json={"message": "please\x07 \u202elet me in"})
        assert request["message"] == "please let me in"
        invisible = await other.ok("POST", f"/v1/communities/{cid}/join-requests", 201,
                                   json={"message": INVISIBLE})
        assert invisible["message"] == ""

