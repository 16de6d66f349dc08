"""The me endpoints: usage time per day, the data export, and erasing an account."""

from __future__ import annotations

import datetime as dt
from typing import Any

from live.me.erase import TOMBSTONE_ID
from live.me.usage import record_minutes
from live.moderation.models import Sanction
from live.storage.models import User
from tests.test_moderation_support import has_chat, make_cast, store_message


async def test_usage_per_day(server: Any) -> None:
    async with server.client("usage-" + server.url[-5:], name="u") as client:
        me = (await client.get("/v1/me")).json()["id"]
        db = server.services.db
        now = dt.datetime.now(dt.UTC)
        midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
        minute = dt.timedelta(minutes=1)
        await record_minutes(db, me, None, "watching", midnight - 2 * minute, midnight + minute)  # 2 + 1
        await record_minutes(db, me, "c1", "watching", midnight, midnight + minute)  # the same minute elsewhere
        await record_minutes(
            db, me, "c1", "hosting", midnight - dt.timedelta(days=2), midnight - dt.timedelta(days=2) + 5 * minute
        )
        await record_minutes(
            db, me, None, "hosting", midnight - dt.timedelta(days=30), midnight - dt.timedelta(days=30) + minute
        )
        await record_minutes(db, "someone-else", None, "watching", midnight, midnight + 10 * minute)
        body = (await client.get("/v1/me/usage")).json()
        assert len(body["days"]) == 7 and body["days"][-1]["date"] == now.date().isoformat()
        assert body["today"] == body["days"][-1] and body["daily_limit_minutes"] is None and body["timezone"] == "UTC"
        by_day = {d["date"]: d for d in body["days"]}
        today, yesterday = now.date(), now.date() - dt.timedelta(days=1)
        assert by_day[today.isoformat()] == {
            "date": today.isoformat(), "watching_seconds": 60, "hosting_seconds": 0, "messages_sent": 0
        }  # one minute watched in two communities at once is one minute of your time
        assert by_day[yesterday.isoformat()]["watching_seconds"] == 120
        assert by_day[(today - dt.timedelta(days=2)).isoformat()]["hosting_seconds"] == 300
        assert body["totals"] == {"watching_seconds": 180, "hosting_seconds": 300, "messages_sent": 0}
        assert (await client.get("/v1/me/usage", params={"days": 40})).json()["totals"]["hosting_seconds"] == 360
        r = await client.get("/v1/me/usage", params={"days": 91})
        assert r.status_code == 422 and "days" in r.json()["error"]["fields"]
        r = await client.get("/v1/me/usage", params={"days": "week"})
        assert r.status_code == 422


async def _busy_member(cast: Any) -> dict[str, Any]:
    """The member writes, likes, reports, gets timed out and appeals, and spends time."""
    cid, me = cast.cid, cast.ids["member"]
    mine = (await cast["member"].post(f"/v1/communities/{cid}/posts", json={"text": "my post"})).json()
    other = (await cast["member2"].post(f"/v1/communities/{cid}/posts", json={"text": "their post"})).json()
    comment = (await cast["member"].post(f"/v1/posts/{other['id']}/comments", json={"text": "my comment"})).json()
    await cast["member"].post(f"/v1/posts/{other['id']}/like")
    report = (await cast["member"].post(f"/v1/communities/{cid}/reports",
                                        json={"target": {"type": "post", "id": other["id"]}, "reason": "meh"})).json()
    action = (await cast.act("moderator", action="timeout", user_id=me, duration_seconds=5, reason="slow")).json()
    appeal = (await cast["member"].post(f"/v1/moderation/{action['id']}/appeal", json={"text": "ok"})).json()
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    await record_minutes(cast.server.services.db, me, cid, "watching", start, start + dt.timedelta(minutes=1))
    return {"mine": mine, "other": other, "comment": comment, "report": report, "action": action, "appeal": appeal}


async def test_export_has_everything_about_me(server: Any) -> None:
    cast = await make_cast(server)
    try:
        made = await _busy_member(cast)
        data = (await cast["member"].get("/v1/me/export")).json()
        assert data["user"]["id"] == cast.ids["member"] and data["user"]["name"] == "member"
        tables = data["tables"]
        assert [m["community_id"] for m in tables["memberships"]] == [cast.cid]
        assert [p["text"] for p in tables["posts"]] == ["my post"]
        assert [c["id"] for c in tables["comments"]] == [made["comment"]["id"]]
        assert [lk["post_id"] for lk in tables["post_likes"]] == [made["other"]["id"]]
        assert [r["id"] for r in tables["reports"]] == [made["report"]["id"]]
        assert [a["id"] for a in tables["appeals"]] == [made["appeal"]["id"]]
        assert [a["id"] for a in tables["moderation_actions"]] == [made["action"]["id"]]
        assert sum(a["seconds"] for a in tables["usage_minutes"]) == 60
        assert made["other"]["text"] not in str(tables["posts"])  # only my own rows
        # The moderator's export holds the action they took.
        theirs = (await cast["moderator"].get("/v1/me/export")).json()["tables"]
        assert [a["id"] for a in theirs["moderation_actions"]] == [made["action"]["id"]]
    finally:
        await cast.close()


async def test_erase_removes_and_anonymizes(server: Any) -> None:
    cast = await make_cast(server)
    try:
        cid, me = cast.cid, cast.ids["member"]
        made = await _busy_member(cast)
        await cast.act("moderator", action="ban", user_id=me, duration_seconds=3600, reason="gone")
        await cast.act("moderator", action="unban", user_id=me)
        await cast["member"].post(f"/v1/communities/{cid}/join")
        before = (await cast["owner"].get(f"/v1/communities/{cid}")).json()["member_count"]
        await server.services.notifications.sender.settle()  # its notices are in

        r = await cast["member"].delete("/v1/me")
        assert r.status_code == 204, r.text

        assert (await cast["owner"].get(f"/v1/communities/{cid}")).json()["member_count"] == before - 1
        assert (await cast["owner"].get(f"/v1/posts/{made['mine']['id']}")).status_code == 404
        other = (await cast["owner"].get(f"/v1/posts/{made['other']['id']}")).json()
        assert other["like_count"] == 0 and other["comment_count"] == 0
        comments = (await cast["owner"].get(f"/v1/posts/{made['other']['id']}/comments")).json()["items"]
        assert comments == []
        log = (await cast["owner"].get(f"/v1/communities/{cid}/moderation/log")).json()["items"]
        assert {e["user_id"] for e in log} == {TOMBSTONE_ID}
        async with server.services.db.session() as session:
            assert await session.get(User, me) is None
        # Signing in again starts from nothing but the sanctions in force (the timeout).
        data = (await cast["member"].get("/v1/me/export")).json()
        left = {name: rows for name, rows in data["tables"].items() if rows}
        assert list(left) == ["sanctions"] and left["sanctions"][0]["kind"] == "mute", left
    finally:
        await cast.close()


async def test_erase_keeps_a_ban_in_force(server: Any) -> None:
    cast = await make_cast(server)
    try:
        me = cast.ids["member"]
        await cast.act("moderator", action="ban", user_id=me, reason="troll")
        assert (await cast["member"].delete("/v1/me")).status_code == 204
        r = await cast["member"].post(f"/v1/communities/{cast.cid}/join")
        assert r.status_code == 403 and r.json()["error"]["code"] == "banned"
        async with server.services.db.session() as session:
            assert await session.get(Sanction, (cast.cid, me, "ban")) is not None
    finally:
        await cast.close()


async def test_erase_refused_for_an_owner(server: Any) -> None:
    cast = await make_cast(server)
    try:
        ann = await cast["owner"].post(f"/v1/communities/{cast.cid}/announcements", json={"text": "welcome"})
        assert ann.status_code == 201, ann.text
        r = await cast["owner"].delete("/v1/me")
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        assert "Mod test" in r.json()["error"]["message"]
        # After deleting the community, erasing goes through.
        assert (await cast["owner"].delete(f"/v1/communities/{cast.cid}")).status_code == 204
        assert (await cast["owner"].delete("/v1/me")).status_code == 204
        async with server.services.db.session() as session:
            assert await session.get(User, cast.ids["owner"]) is None
    finally:
        await cast.close()


async def test_the_tombstone_cannot_be_erased(server: Any) -> None:
    import jwt
    import pytest

    from live.errors import ApiError
    from live.me.erase import erase
    from tests.support.servers import SECRET

    # No token speaks for it (401, see tests/test_identity.py), and the erasure refuses it anyway.
    token = jwt.encode({"sub": TOMBSTONE_ID, "exp": 2**31}, SECRET, algorithm="HS256")
    async with server.client() as client:
        r = await client.delete("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    with pytest.raises(ApiError) as caught:
        async with server.services.db.session() as session:
            await erase(session, TOMBSTONE_ID)
    assert caught.value.code.value == "conflict"


async def test_erase_and_export_cover_chat_messages(server: Any) -> None:
    if not has_chat():
        import pytest

        pytest.skip("this build has no chat table")
    from sqlalchemy import select

    from live.storage.all_models import metadata

    cast = await make_cast(server)
    try:
        mine = await store_message(server, f"community:{cast.cid}", cast.ids["member"], "my secret")
        theirs = await store_message(server, f"community:{cast.cid}", cast.ids["member2"], "their words")
        tables = (await cast["member"].get("/v1/me/export")).json()["tables"]
        assert [m["text"] for m in tables["chat_messages"]] == ["my secret"]
        assert (await cast["member"].delete("/v1/me")).status_code == 204
        messages = metadata.tables["chat_messages"]
        async with server.services.db.session() as session:
            rows = {r.id: r for r in await session.execute(select(messages).where(messages.c.id.in_([mine, theirs])))}
        assert rows[mine].text == "" and rows[mine].user_id == TOMBSTONE_ID
        assert rows[mine].user_name == "Deleted user" and rows[mine].deleted_at is not None
        assert rows[theirs].text == "their words" and rows[theirs].deleted_at is None
    finally:
        await cast.close()


async def test_erase_refused_while_hosting_a_live(server: Any) -> None:
    from live.storage.all_models import metadata

    lives = metadata.tables.get("lives")
    if lives is None:
        import pytest

        pytest.skip("this build has no live sessions")
    from live.storage.ids import new_id

    cast = await make_cast(server)
    try:
        lid = new_id()
        async with server.services.db.session() as session:
            await session.execute(lives.insert().values(
                id=lid, community_id=cast.cid, host_id=cast.ids["member"], title="t", status="live",
                live_host=cast.ids["member"], started_at=dt.datetime.now(dt.UTC), peak_viewers=0,
            ))
        r = await cast["member"].delete("/v1/me")
        assert r.status_code == 409 and "live" in r.json()["error"]["message"]
        async with server.services.db.session() as session:
            await session.execute(lives.update().where(lives.c.id == lid).values(status="ended", live_host=None))
        assert (await cast["member"].delete("/v1/me")).status_code == 204
        async with server.services.db.session() as session:
            host = (await session.execute(lives.select().where(lives.c.id == lid))).one().host_id
        assert host == TOMBSTONE_ID
    finally:
        await cast.close()
