"""Moderation actions over HTTP: every action, the rank rule, errors, expiry, events, the log."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from live.errors import ApiError, ErrorCode
from live.moderation.models import Sanction
from live.moderation.sanctions import check_can_speak, check_not_banned
from tests.support.clock import ClockShift
from tests.test_moderation_support import has_chat, make_cast, record_events, store_message


def _code(r: Any) -> str:
    return r.json()["error"]["code"]


async def test_mute_timeout_and_unmute(server: Any) -> None:
    cast = await make_cast(server)
    try:
        member = cast.ids["member"]
        r = await cast.act("moderator", action="mute", user_id=member, reason="spam")
        assert r.status_code == 201, r.text
        record = r.json()
        assert record["action"] == "mute" and record["expires_at"] is None and record["user_name"] == "member"
        assert record["target"] == {"type": "user", "id": member}
        assert record["moderator_role"] == "moderator" and record["moderator_id"] == cast.ids["moderator"]

        r = await cast["member"].post(f"/v1/communities/{cast.cid}/posts", json={"text": "hi"})
        assert r.status_code == 403 and _code(r) == "muted"

        r = await cast.act("moderator", action="unmute", user_id=member)
        assert r.status_code == 201
        r = await cast["member"].post(f"/v1/communities/{cast.cid}/posts", json={"text": "hi"})
        assert r.status_code == 201, r.text

        # A timeout needs a duration, and carries `until` on the refusal.
        r = await cast.act("moderator", action="timeout", user_id=member)
        assert r.status_code == 422 and "duration_seconds" in r.json()["error"]["fields"]
        r = await cast.act("moderator", action="timeout", user_id=member, duration_seconds=600)
        assert r.status_code == 201 and r.json()["expires_at"] is not None
        r = await cast["member"].post(f"/v1/communities/{cast.cid}/posts", json={"text": "hi"})
        assert r.status_code == 403 and _code(r) == "muted"
        assert r.json()["error"]["until"] == cast_until(r)

        # Unmuting someone who is not muted is a conflict.
        r = await cast.act("moderator", action="unmute", user_id=cast.ids["member2"])
        assert r.status_code == 409 and _code(r) == "conflict"
    finally:
        await cast.close()


def cast_until(r: Any) -> str:
    until = r.json()["error"]["until"]
    assert until.endswith("Z")
    return until


async def test_timeout_expires_by_itself(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    shift = ClockShift().install(monkeypatch)  # the server runs in this process: its clock moves on
    cast = await make_cast(server)
    try:
        r = await cast.act("moderator", action="timeout", user_id=cast.ids["member"], duration_seconds=1)
        assert r.status_code == 201
        r = await cast["member"].post(f"/v1/communities/{cast.cid}/posts", json={"text": "hi"})
        assert r.status_code == 403 and _code(r) == "muted"
        shift.advance(1.1)
        r = await cast["member"].post(f"/v1/communities/{cast.cid}/posts", json={"text": "back"})
        assert r.status_code == 201, r.text
        # The log still shows it, with when it ended.
        log = (await cast["member"].get(f"/v1/communities/{cast.cid}/moderation/log")).json()["items"]
        assert log[0]["action"] == "timeout" and log[0]["expires_at"] is not None
    finally:
        await cast.close()


async def test_ban_removes_membership_blocks_rejoin_and_unban_lifts(server: Any) -> None:
    cast = await make_cast(server)
    try:
        member, cid = cast.ids["member"], cast.cid
        before = (await cast["owner"].get(f"/v1/communities/{cid}")).json()["member_count"]
        r = await cast.act("admin", action="ban", user_id=member, reason="abuse")
        assert r.status_code == 201 and r.json()["expires_at"] is None
        community = (await cast["member"].get(f"/v1/communities/{cid}")).json()
        assert community["my_role"] is None and community["member_count"] == before - 1

        r = await cast["member"].post(f"/v1/communities/{cid}/join")
        assert r.status_code == 403 and _code(r) == "banned"
        # An invite from another member does not get around it either.
        invite = (await cast["member2"].post(f"/v1/communities/{cid}/invites", json={})).json()
        r = await cast["member"].post(f"/v1/invites/{invite['code']}/accept")
        assert r.status_code == 403 and _code(r) == "banned"

        r = await cast.act("moderator", action="unban", user_id=member)
        assert r.status_code == 201
        r = await cast["member"].post(f"/v1/communities/{cid}/join")
        assert r.status_code == 200, r.text

        r = await cast.act("moderator", action="unban", user_id=member)
        assert r.status_code == 409 and _code(r) == "conflict"
    finally:
        await cast.close()


async def test_timed_ban_carries_until_and_expires(server: Any) -> None:
    cast = await make_cast(server)
    try:
        member, cid = cast.ids["member"], cast.cid
        r = await cast.act("moderator", action="ban", user_id=member, duration_seconds=3600)
        assert r.status_code == 201
        r = await cast["member"].post(f"/v1/communities/{cid}/join")
        assert r.status_code == 403 and _code(r) == "banned" and r.json()["error"]["until"]
        # Move the ban into the past: it no longer counts, with nothing having to wake up.
        async with server.services.db.session() as session:
            await session.execute(
                update(Sanction)
                .where(Sanction.community_id == cid, Sanction.user_id == member)
                .values(until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        r = await cast["member"].post(f"/v1/communities/{cid}/join")
        assert r.status_code == 200, r.text
        # An expired ban is not "in force": unbanning it is a conflict.
        r = await cast.act("moderator", action="unban", user_id=member)
        assert r.status_code == 409
    finally:
        await cast.close()


async def test_sanction_checks_on_the_session(server: Any) -> None:
    cast = await make_cast(server)
    try:
        member, cid = cast.ids["member"], cast.cid
        async with server.services.db.session() as session:
            await check_not_banned(session, cid, member)
            await check_can_speak(session, cid, member)
        await cast.act("moderator", action="mute", user_id=member, duration_seconds=60)
        async with server.services.db.session() as session:
            await check_not_banned(session, cid, member)
            try:
                await check_can_speak(session, cid, member)
                raise AssertionError("muted user may speak")
            except ApiError as exc:
                assert exc.code is ErrorCode.MUTED and exc.until is not None
        await cast.act("moderator", action="ban", user_id=member)
        async with server.services.db.session() as session:
            for check in (check_not_banned, check_can_speak):
                try:
                    await check(session, cid, member)
                    raise AssertionError("banned user passed")
                except ApiError as exc:
                    assert exc.code is ErrorCode.BANNED and exc.until is None
    finally:
        await cast.close()


async def test_kick_removes_membership_and_they_may_rejoin(server: Any) -> None:
    cast = await make_cast(server)
    try:
        member, cid = cast.ids["member"], cast.cid
        r = await cast.act("moderator", action="kick", user_id=member, reason="calm down")
        assert r.status_code == 201
        assert (await cast["member"].get(f"/v1/communities/{cid}")).json()["my_role"] is None
        r = await cast.act("moderator", action="kick", user_id=member)
        assert r.status_code == 409 and _code(r) == "conflict"
        r = await cast["member"].post(f"/v1/communities/{cid}/join")
        assert r.status_code == 200
    finally:
        await cast.close()


async def test_delete_post_comment_and_message(server: Any) -> None:
    cast = await make_cast(server)
    try:
        cid = cast.cid
        post = (await cast["member"].post(f"/v1/communities/{cid}/posts", json={"text": "rude"})).json()
        comment = (await cast["member2"].post(f"/v1/posts/{post['id']}/comments", json={"text": "ruder"})).json()

        r = await cast.act("moderator", action="delete", target={"type": "comment", "id": comment["id"]})
        assert r.status_code == 201 and r.json()["user_id"] == cast.ids["member2"]
        assert (await cast["member"].get(f"/v1/posts/{post['id']}")).json()["comment_count"] == 0
        r = await cast.act("moderator", action="delete", target={"type": "comment", "id": comment["id"]})
        assert r.status_code == 404

        r = await cast.act("moderator", action="delete", target={"type": "post", "id": post["id"]})
        assert r.status_code == 201 and r.json()["target"] == {"type": "post", "id": post["id"]}
        assert (await cast["member"].get(f"/v1/posts/{post['id']}")).status_code == 404
        r = await cast.act("moderator", action="delete", target={"type": "post", "id": "nope"})
        assert r.status_code == 404 and _code(r) == "not_found"

        # Messages are deleted by the chat service from the event; the record names the author.
        message = await store_message(server, f"community:{cid}", cast.ids["member"])
        r = await cast.act("moderator", action="delete", target={"type": "message", "id": message},
                           user_id=cast.ids["member"])
        assert r.status_code == 201 and r.json()["target"] == {"type": "message", "id": message}
        assert r.json()["user_id"] == cast.ids["member"]
        if has_chat():
            # Found in the chat table: the author comes from the message itself.
            message = await store_message(server, f"community:{cid}", cast.ids["member2"])
            r = await cast.act("moderator", action="delete", target={"type": "message", "id": message})
            assert r.status_code == 201 and r.json()["user_id"] == cast.ids["member2"]
            r = await cast.act("moderator", action="delete", target={"type": "message", "id": "nope"})
            assert r.status_code == 404
            elsewhere = await store_message(server, "community:another", cast.ids["member2"])
            r = await cast.act("moderator", action="delete", target={"type": "message", "id": elsewhere})
            assert r.status_code == 404
            admins = await store_message(server, f"community:{cid}", cast.ids["admin"])
            r = await cast.act("moderator", action="delete", target={"type": "message", "id": admins})
            assert r.status_code == 403 and _code(r) == "forbidden"

        # A moderator cannot delete an admin's post (rank), but can delete their own.
        admin_post = (await cast["admin"].post(f"/v1/communities/{cid}/posts", json={"text": "x"})).json()
        r = await cast.act("moderator", action="delete", target={"type": "post", "id": admin_post["id"]})
        assert r.status_code == 403 and _code(r) == "forbidden"
        own = (await cast["moderator"].post(f"/v1/communities/{cid}/posts", json={"text": "x"})).json()
        r = await cast.act("moderator", action="delete", target={"type": "post", "id": own["id"]})
        assert r.status_code == 201
    finally:
        await cast.close()


async def test_rank_rule_and_forbidden_paths(server: Any) -> None:
    cast = await make_cast(server)
    try:
        ids = cast.ids
        # Members cannot moderate; non-members are not members.
        r = await cast.act("member", action="mute", user_id=ids["member2"])
        assert r.status_code == 403 and _code(r) == "forbidden"
        r = await cast.act("outsider", action="mute", user_id=ids["member2"])
        assert r.status_code == 403 and _code(r) == "not_member"
        # Nobody acts on equal or higher rank.
        for actor, target in [("moderator", "admin"), ("moderator", "moderator"), ("admin", "owner"),
                              ("admin", "admin"), ("moderator", "owner")]:
            r = await cast.act(actor, action="ban", user_id=ids[target])
            assert r.status_code == 403 and _code(r) == "forbidden", (actor, target)
        r = await cast.act("owner", action="mute", user_id=ids["admin"], duration_seconds=60)
        assert r.status_code == 201
        r = await cast.act("admin", action="timeout", user_id=ids["moderator"], duration_seconds=60)
        assert r.status_code == 201
    finally:
        await cast.close()


async def test_validation_and_unknowns(server: Any) -> None:
    cast = await make_cast(server)
    try:
        ids = cast.ids
        cases: list[tuple[dict[str, Any], str]] = [
            ({"action": "explode", "user_id": ids["member"]}, "action"),
            ({"action": "mute"}, "user_id"),
            ({"action": "delete"}, "target"),
            ({"action": "delete", "target": {"type": "video", "id": "x"}}, "target.type"),
            ({"action": "kick", "user_id": ids["member"], "duration_seconds": 5}, "duration_seconds"),
            ({"action": "mute", "user_id": ids["member"], "duration_seconds": 0}, "duration_seconds"),
            ({"action": "mute", "user_id": ids["member"], "target": {"type": "post", "id": "p"}}, "target"),
            ({"action": "mute", "user_id": ids["member"], "reason": ""}, "reason"),
        ]
        for body, field in cases:
            r = await cast.act("moderator", **body)
            assert r.status_code == 422, (body, r.text)
            assert field in r.json()["error"]["fields"], (body, r.json())
        r = await cast["moderator"].post(f"/v1/communities/{cast.cid}/moderation", json={"action": "mute"})
        assert r.status_code == 422 and "reason" in r.json()["error"]["fields"]
        r = await cast.act("moderator", action="ban", user_id="nobody-at-all")
        assert r.status_code == 404 and _code(r) == "not_found"
        r = await cast["moderator"].post(
            "/v1/communities/nope/moderation", json={"action": "ban", "user_id": "x", "reason": "r"}
        )
        assert r.status_code == 404
        # A user who is not a member can still be banned ahead of time (and then cannot join).
        r = await cast.act("moderator", action="ban", user_id=ids["outsider"])
        assert r.status_code == 201
        r = await cast["outsider"].post(f"/v1/communities/{cast.cid}/join")
        assert r.status_code == 403 and _code(r) == "banned"
    finally:
        await cast.close()


async def test_every_action_emits_the_event(server: Any) -> None:
    cast = await make_cast(server)
    seen = record_events(server, "moderation.action")
    try:
        r = await cast.act("moderator", action="timeout", user_id=cast.ids["member"], duration_seconds=30,
                           reason="cool off")
        record = r.json()
        message = await store_message(server, f"community:{cast.cid}", cast.ids["member2"])
        r = await cast.act("moderator", action="delete", target={"type": "message", "id": message})
        assert len(seen) == 2
        first = seen[0]
        assert set(first) == {"id", "community_id", "action", "user_id", "target", "reason", "until",
                              "moderator_id", "moderator_role", "created_at"}
        assert first == {
            "id": record["id"], "community_id": cast.cid, "action": "timeout", "user_id": cast.ids["member"],
            "target": None, "reason": "cool off", "until": record["expires_at"],
            "moderator_id": cast.ids["moderator"], "moderator_role": "moderator", "created_at": record["created_at"],
        }
        assert seen[1]["target"] == {"type": "message", "id": message}
        assert seen[1]["user_id"] == (cast.ids["member2"] if has_chat() else None)
        # A refused action emits nothing.
        await cast.act("member", action="ban", user_id=cast.ids["member2"])
        assert len(seen) == 2
    finally:
        await cast.close()


async def test_log_visibility_and_paging(server: Any) -> None:
    cast = await make_cast(server, read_policy="members")
    try:
        for i in range(3):
            r = await cast.act("moderator", action="timeout", user_id=cast.ids["member"], duration_seconds=10 + i,
                               reason=f"r{i}")
            assert r.status_code == 201
        url = f"/v1/communities/{cast.cid}/moderation/log"
        page = (await cast["member2"].get(url, params={"limit": 2})).json()
        assert [e["reason"] for e in page["items"]] == ["r2", "r1"]
        entry = page["items"][0]
        assert {"action", "target", "reason", "created_at", "expires_at", "moderator_role"} <= set(entry)
        assert "moderator_id" not in entry and entry["moderator_role"] == "moderator"
        rest = (await cast["member2"].get(url, params={"cursor": page["next_cursor"]})).json()
        assert [e["reason"] for e in rest["items"]] == ["r0"] and rest["next_cursor"] is None
        staff = (await cast["admin"].get(url)).json()["items"][0]
        assert staff["moderator_id"] == cast.ids["moderator"]
        # Members-only community: outsiders do not see it exists.
        r = await cast["outsider"].get(url)
        assert r.status_code == 404
        r = await cast["member2"].get(url, params={"cursor": "!!"})
        assert r.status_code == 422 and "cursor" in r.json()["error"]["fields"]
    finally:
        await cast.close()


async def test_public_log_is_readable_by_non_members(server: Any) -> None:
    cast = await make_cast(server)
    try:
        await cast.act("moderator", action="kick", user_id=cast.ids["member"], reason="bye")
        r = await cast["outsider"].get(f"/v1/communities/{cast.cid}/moderation/log")
        assert r.status_code == 200 and r.json()["items"][0]["reason"] == "bye"
    finally:
        await cast.close()


async def test_racing_actions_on_one_user_never_fail(server: Any) -> None:
    cast = await make_cast(server)
    try:
        results = await asyncio.gather(*(
            cast.act(who, action="timeout", user_id=cast.ids["member"], duration_seconds=60 + i)
            for i, who in enumerate(["moderator", "admin", "owner"] * 3)
        ))
        assert [r.status_code for r in results] == [201] * 9
        async with server.services.db.session() as session:
            sanction = await session.get(Sanction, (cast.cid, cast.ids["member"], "mute"))
            assert sanction is not None
        # The standing sanction is the one the last committed action set.
        log = (await cast["owner"].get(f"/v1/communities/{cast.cid}/moderation/log")).json()["items"]
        assert sanction.action_id in {e["id"] for e in log}
    finally:
        await cast.close()


async def test_sanctions_in_force_for_staff(server: Any) -> None:
    cast = await make_cast(server)
    try:
        url = f"/v1/communities/{cast.cid}/moderation/sanctions"
        await cast.act("moderator", action="ban", user_id=cast.ids["member"])
        await cast.act("moderator", action="timeout", user_id=cast.ids["member2"], duration_seconds=60)
        await cast.act("moderator", action="timeout", user_id=cast.ids["outsider"], duration_seconds=1)
        async with server.services.db.session() as session:
            await session.execute(
                update(Sanction)
                .where(Sanction.user_id == cast.ids["outsider"])
                .values(until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
            )
        items = (await cast["moderator"].get(url)).json()["items"]
        assert [(i["user_id"], i["kind"]) for i in items] == [
            (cast.ids["member2"], "mute"), (cast.ids["member"], "ban")
        ]
        assert items[0]["until"] is not None and items[1]["until"] is None
        r = await cast["member2"].get(url)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    finally:
        await cast.close()


async def test_ban_blocks_a_join_request(server: Any) -> None:
    cast = await make_cast(server)
    try:
        await cast.act("moderator", action="ban", user_id=cast.ids["outsider"])
        r = await cast["owner"].patch(f"/v1/communities/{cast.cid}", json={"join_policy": "invite"})
        assert r.status_code == 200, r.text
        r = await cast["outsider"].post(f"/v1/communities/{cast.cid}/join-requests", json={"message": "pls"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "banned"
    finally:
        await cast.close()


async def test_openapi_lists_the_moderation_and_me_routes(server: Any) -> None:
    async with server.client("openapi-reader") as client:
        doc = (await client.get("/openapi.json")).json()
    routes = {
        ("post", "/v1/communities/{cid}/moderation"): "ModerationActionBody",
        ("get", "/v1/communities/{cid}/moderation/log"): None,
        ("get", "/v1/communities/{cid}/moderation/sanctions"): None,
        ("post", "/v1/communities/{cid}/reports"): "ReportCreate",
        ("get", "/v1/communities/{cid}/reports"): None,
        ("post", "/v1/reports/{rid}/resolve"): "ReportResolve",
        ("post", "/v1/moderation/{aid}/appeal"): "AppealCreate",
        ("post", "/v1/appeals/{apid}/decide"): "AppealDecision",
        ("get", "/v1/communities/{cid}/insights"): None,
        ("get", "/v1/me/usage"): None,
        ("get", "/v1/me/export"): None,
        ("delete", "/v1/me"): None,
    }
    for (method, path), body in routes.items():
        op = doc["paths"][path][method]
        assert op["summary"] and "401" in op["responses"], (method, path)
        if body is not None:
            assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/" + body)
    action = doc["components"]["schemas"]["ModerationActionBody"]
    assert set(action["required"]) == {"action", "reason"}


async def test_moderators_set_slow_mode_and_the_keyword_filter(server: Any) -> None:
    cast = await make_cast(server)
    seen: list[dict[str, Any]] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(payload)

    server.services.events.on("community.chat_settings", handler)
    try:
        url = f"/v1/communities/{cast.cid}/moderation/chat"
        r = await cast["moderator"].patch(url, json={"slow_mode_seconds": 30, "blocked_words": ["spam"],
                                                     "reason": "raid"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["slow_mode_seconds"] == 30 and body["blocked_words"] == ["spam"]
        assert [e["action"] for e in body["log"]] == ["slow_mode", "filter"]
        assert seen == [{"community_id": cast.cid, "slow_mode_seconds": 30, "blocked_words": ["spam"]}]
        community = (await cast["member"].get(f"/v1/communities/{cast.cid}")).json()
        assert community["slow_mode_seconds"] == 30 and community["blocked_words"] == ["spam"]
        r = await cast["member"].post(f"/v1/communities/{cast.cid}/posts", json={"text": "buy spam now"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "blocked_word"
        log = (await cast["member"].get(f"/v1/communities/{cast.cid}/moderation/log")).json()["items"]
        assert [e["action"] for e in log] == ["filter", "slow_mode"]
        assert log[1]["reason"] == "slow mode set to 30 s: raid" and log[1]["target"] is None

        # The same settings again change nothing and log nothing.
        r = await cast["moderator"].patch(url, json={"slow_mode_seconds": 30})
        assert r.status_code == 200 and r.json()["log"] == [] and len(seen) == 1
        r = await cast["member"].patch(url, json={"slow_mode_seconds": 0})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        for bad in ({}, {"slow_mode_seconds": -1}, {"blocked_words": [" "]}, {"blocked_words": "spam"}):
            r = await cast["moderator"].patch(url, json=bad)
            assert r.status_code == 422, bad
    finally:
        await cast.close()


async def test_deleting_a_chat_message_reaches_the_chat_service(server: Any) -> None:
    if not has_chat():
        import pytest

        pytest.skip("this build has no chat service")
    from sqlalchemy import select

    from live.storage.all_models import metadata

    cast = await make_cast(server)
    try:
        group = (await cast["owner"].post(f"/v1/communities/{cast.cid}/groups", json={"name": "crew"})).json()
        message = await store_message(server, f"group:{group['id']}", cast.ids["member"], "rude words")
        r = await cast.act("moderator", action="delete", target={"type": "message", "id": message}, reason="rude")
        assert r.status_code == 201 and r.json()["user_id"] == cast.ids["member"]
        messages = metadata.tables["chat_messages"]
        async with server.services.db.session() as session:
            row = (await session.execute(select(messages).where(messages.c.id == message))).one()
        assert row.deleted_at is not None and row.delete_reason == "rude"
    finally:
        await cast.close()
