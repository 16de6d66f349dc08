"""Posts, likes, comments and shares: limits, exact Unicode, pagination, idempotence, races."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.communities import error_of, make_community, mute, people
from tests.support.servers import RunningServer

UNICODE = [
    "مرحبا بالعالم — نص عربي من اليمين إلى اليسار",
    "שלום עולם",
    "👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 tone",
    "e\u0301 (combining) vs \u00e9 (precomposed)",
    "  leading and trailing spaces  \n\tand a tab",
    "\u200f RLM and \u200d ZWJ and \ufeff BOM",
    "𝕳𝖊𝖑𝖑𝖔 (astral plane) 中文 日本語 한국어",
]


async def test_post_text_is_stored_exactly_and_limits(server: RunningServer) -> None:
    async with people(server, "owner") as (owner,):
        cid = (await make_community(owner))["id"]
        for text in UNICODE:
            post = await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": text})
            assert post["text"] == text
            assert (await owner.ok("GET", f"/v1/posts/{post['id']}"))["text"] == text
        post = await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "😀" * 5000})
        assert post == {
            **post, "community_id": cid, "author": {"id": owner.id, "name": "owner"}, "like_count": 0,
            "comment_count": 0, "share_count": 0, "liked_by_me": False, "shared_from": None,
        }
        err = error_of(await owner.call("POST", f"/v1/communities/{cid}/posts", json={"text": "😀" * 5001}),
                       422, "message_too_long")
        assert "5000" in err["message"] and err["fields"] == {"text": "at most 5000 characters"}
        for body in ({}, {"text": 5}, {"text": None}, {"text": ["a"]}, {"text": " \n "}):
            err = error_of(await owner.call("POST", f"/v1/communities/{cid}/posts", json=body), 422, "invalid_request")
            assert "text" in err["fields"]
        error_of(await owner.call("POST", "/v1/communities/nope/posts", json={"text": "x"}), 404, "not_found")
        items = (await owner.ok("GET", f"/v1/communities/{cid}/posts?limit=100"))["items"]
        assert [p["text"] for p in items[1:]] == list(reversed(UNICODE))


async def test_pagination_newest_first(server: RunningServer) -> None:
    async with people(server, "owner") as (owner,):
        cid = (await make_community(owner))["id"]
        ids = [
            (await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": f"p{i}"}))["id"]
            for i in range(5)
        ]
        seen, cursor = [], ""
        while True:
            page = await owner.ok("GET", f"/v1/communities/{cid}/posts?limit=2&cursor={cursor}")
            assert len(page["items"]) <= 2
            seen += [p["id"] for p in page["items"]]
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert seen == list(reversed(ids))
        for bad in ("cursor=abc", "cursor=WzFd", "cursor=WyJhIiwiYiJd", "limit=0", "limit=101", "limit=x"):
            error_of(await owner.call("GET", f"/v1/communities/{cid}/posts?{bad}"), 422, "invalid_request")
        error_of(await owner.call("GET", "/v1/communities/nope/posts"), 404, "not_found")


async def test_likes_are_idempotent_and_personal(server: RunningServer) -> None:
    async with people(server, "owner", "fan", "reader") as (owner, fan, reader):
        cid = (await make_community(owner))["id"]
        await fan.ok("POST", f"/v1/communities/{cid}/join")
        pid = (await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "like me"}))["id"]
        for _ in range(2):
            liked = await fan.ok("POST", f"/v1/posts/{pid}/like")
            assert liked["like_count"] == 1 and liked["liked_by_me"] is True
        assert (await owner.ok("GET", f"/v1/posts/{pid}"))["liked_by_me"] is False
        listed = (await fan.ok("GET", f"/v1/communities/{cid}/posts"))["items"][0]
        assert listed["liked_by_me"] is True and listed["like_count"] == 1
        assert (await reader.ok("GET", f"/v1/communities/{cid}/posts"))["items"][0]["liked_by_me"] is False
        error_of(await reader.call("POST", f"/v1/posts/{pid}/like"), 403, "not_member")
        error_of(await reader.call("DELETE", f"/v1/posts/{pid}/like"), 403, "not_member")
        for _ in range(2):
            un = await fan.ok("DELETE", f"/v1/posts/{pid}/like")
            assert un["like_count"] == 0 and un["liked_by_me"] is False
        error_of(await fan.call("POST", "/v1/posts/nope/like"), 404, "not_found")


async def test_fifty_simultaneous_likes_make_one(server: RunningServer) -> None:
    async with people(server, "owner") as (owner,):
        cid = (await make_community(owner))["id"]
        pid = (await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "race"}))["id"]
        results = await asyncio.gather(*(owner.call("POST", f"/v1/posts/{pid}/like") for _ in range(50)))
        assert all(r.status_code == 200 for r in results), {r.status_code for r in results}
        post = await owner.ok("GET", f"/v1/posts/{pid}")
        assert post["like_count"] == 1 and post["liked_by_me"] is True
        results = await asyncio.gather(*(owner.call("DELETE", f"/v1/posts/{pid}/like") for _ in range(20)))
        assert all(r.status_code == 200 for r in results)
        assert (await owner.ok("GET", f"/v1/posts/{pid}"))["like_count"] == 0


async def test_comments(server: RunningServer) -> None:
    async with people(server, "owner", "talker", "reader") as (owner, talker, reader):
        cid = (await make_community(owner))["id"]
        await talker.ok("POST", f"/v1/communities/{cid}/join")
        pid = (await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "discuss"}))["id"]
        made = []
        for text in ("first", "ثانياً 🌙", "x" * 2000):
            made.append(await talker.ok("POST", f"/v1/posts/{pid}/comments", 201, json={"text": text}))
            assert made[-1]["text"] == text and made[-1]["author"] == {"id": talker.id, "name": "talker"}
        error_of(
            await talker.call("POST", f"/v1/posts/{pid}/comments", json={"text": "x" * 2001}), 422, "message_too_long"
        )
        error_of(await talker.call("POST", f"/v1/posts/{pid}/comments", json={"text": ""}), 422, "invalid_request")
        error_of(await talker.call("POST", f"/v1/posts/{pid}/comments", json={"txt": "hi"}), 422, "invalid_request")
        error_of(await reader.call("POST", f"/v1/posts/{pid}/comments", json={"text": "hi"}), 403, "not_member")
        error_of(await talker.call("POST", "/v1/posts/nope/comments", json={"text": "hi"}), 404, "not_found")
        assert (await reader.ok("GET", f"/v1/posts/{pid}"))["comment_count"] == 3
        page = await reader.ok("GET", f"/v1/posts/{pid}/comments?limit=2")
        page2 = await reader.ok("GET", f"/v1/posts/{pid}/comments?limit=2&cursor={page['next_cursor']}")
        assert [c["id"] for c in page["items"] + page2["items"]] == [c["id"] for c in made]
        assert page2["next_cursor"] is None
        error_of(await reader.call("GET", f"/v1/posts/{pid}/comments?cursor=bad"), 422, "invalid_request")
        error_of(await owner.call("DELETE", f"/v1/comments/{made[0]['id']}"), 403, "forbidden")
        await talker.ok("DELETE", f"/v1/comments/{made[0]['id']}", 204)
        error_of(await talker.call("DELETE", f"/v1/comments/{made[0]['id']}"), 404, "not_found")
        assert (await reader.ok("GET", f"/v1/posts/{pid}"))["comment_count"] == 2
        assert len((await reader.ok("GET", f"/v1/posts/{pid}/comments"))["items"]) == 2
        error_of(await reader.call("GET", "/v1/posts/nope/comments"), 404, "not_found")


async def test_shares(server: RunningServer) -> None:
    async with people(server, "owner", "sharer") as (owner, sharer):
        home = (await make_community(owner, name="home"))["id"]
        away = (await make_community(sharer, name="away"))["id"]
        private = (await make_community(owner, name="private", read_policy="members"))["id"]
        elsewhere = (await make_community(owner, name="elsewhere"))["id"]
        await sharer.ok("POST", f"/v1/communities/{home}/join")
        await sharer.ok("POST", f"/v1/communities/{private}/join")
        pid = (await owner.ok("POST", f"/v1/communities/{home}/posts", 201, json={"text": "worth sharing ✨"}))["id"]
        shared = await sharer.ok("POST", f"/v1/posts/{pid}/share", 201, json={"community_id": away, "text": "look"})
        assert shared["community_id"] == away and shared["shared_from"] == pid and shared["text"] == "look"
        assert shared["original"]["text"] == "worth sharing ✨" and shared["original"]["author"]["id"] == owner.id
        assert (await owner.ok("GET", f"/v1/posts/{pid}"))["share_count"] == 1
        # Default target: the post's own community. A share of a share points at the original.
        again = await sharer.ok("POST", f"/v1/posts/{shared['id']}/share", 201, json={})
        assert again["community_id"] == away and again["shared_from"] == pid
        assert (await owner.ok("GET", f"/v1/posts/{pid}"))["share_count"] == 2
        error_of(
            await sharer.call("POST", f"/v1/posts/{pid}/share", json={"community_id": elsewhere}), 403, "not_member"
        )
        error_of(await sharer.call("POST", f"/v1/posts/{pid}/share", json={"community_id": "nope"}), 404, "not_found")
        error_of(await sharer.call("POST", f"/v1/posts/{pid}/share", json={"community_id": 5}), 422, "invalid_request")
        error_of(await sharer.call("POST", "/v1/posts/nope/share", json={}), 404, "not_found")
        secret = (await owner.ok("POST", f"/v1/communities/{private}/posts", 201, json={"text": "members only"}))["id"]
        error_of(await sharer.call("POST", f"/v1/posts/{secret}/share", json={"community_id": away}), 403, "forbidden")
        await sharer.ok("POST", f"/v1/posts/{secret}/share", 201, json={})
        # Deleting a share gives the count back; deleting the original empties `original`.
        await sharer.ok("DELETE", f"/v1/posts/{again['id']}", 204)
        assert (await owner.ok("GET", f"/v1/posts/{pid}"))["share_count"] == 1
        await owner.ok("DELETE", f"/v1/posts/{pid}", 204)
        assert (await sharer.ok("GET", f"/v1/posts/{shared['id']}"))["original"] is None
        error_of(await sharer.call("POST", f"/v1/posts/{shared['id']}/share", json={}), 404, "not_found")


async def test_delete_post_and_read_policy(server: RunningServer) -> None:
    async with people(server, "owner", "author", "outsider") as (owner, author, outsider):
        cid = (await make_community(owner, read_policy="members"))["id"]
        await author.ok("POST", f"/v1/communities/{cid}/join")
        pid = (await author.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "mine"}))["id"]
        for path in (f"/v1/communities/{cid}/posts", f"/v1/posts/{pid}", f"/v1/posts/{pid}/comments"):
            error_of(await outsider.call("GET", path), 404, "not_found")
        error_of(await outsider.call("POST", f"/v1/posts/{pid}/like"), 404, "not_found")
        error_of(await outsider.call("DELETE", f"/v1/posts/{pid}"), 404, "not_found")
        error_of(await owner.call("DELETE", f"/v1/posts/{pid}"), 403, "forbidden")
        await author.ok("DELETE", f"/v1/posts/{pid}", 204)
        error_of(await author.call("DELETE", f"/v1/posts/{pid}"), 404, "not_found")
        error_of(await author.call("GET", f"/v1/posts/{pid}"), 404, "not_found")
        error_of(await author.call("POST", f"/v1/posts/{pid}/like"), 404, "not_found")
        assert (await author.ok("GET", f"/v1/communities/{cid}/posts"))["items"] == []


async def test_blocked_words_and_mutes(server: RunningServer) -> None:
    async with people(server, "owner", "quiet") as (owner, quiet):
        cid = (await make_community(owner))["id"]
        await owner.ok("PATCH", f"/v1/communities/{cid}", json={"blocked_words": ["Spam", "كلمة"]})
        err = error_of(await owner.call("POST", f"/v1/communities/{cid}/posts", json={"text": "buy SPAM now"}),
                       422, "blocked_word")
        assert "text" in err["fields"]
        error_of(
            await owner.call("POST", f"/v1/communities/{cid}/posts", json={"text": "هذه كلمة"}), 422, "blocked_word"
        )
        await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "spammers are not welcome"})
        pid = (await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "clean"}))["id"]
        error_of(await owner.call("POST", f"/v1/posts/{pid}/comments", json={"text": "spam!"}), 422, "blocked_word")
        await quiet.ok("POST", f"/v1/communities/{cid}/join")
        await mute(server, cid, quiet.id)
        for method, path, body in (("POST", f"/v1/communities/{cid}/posts", {"text": "hi"}),
                                   ("POST", f"/v1/posts/{pid}/like", None),
                                   ("POST", f"/v1/posts/{pid}/comments", {"text": "hi"}),
                                   ("POST", f"/v1/posts/{pid}/share", {})):
            error_of(await quiet.call(method, path, json=body), 403, "muted")
        # Reading is still fine.
        await quiet.ok("GET", f"/v1/communities/{cid}/posts")


@pytest.mark.parametrize("path", ["/v1/posts/{pid}/like", "/v1/posts/{pid}/comments"])
async def test_unknown_ids_are_404(server: RunningServer, path: str) -> None:
    async with people(server, "who") as (who,):
        error_of(await who.call("GET" if "comments" in path else "POST", path.format(pid="0" * 26)), 404, "not_found")
