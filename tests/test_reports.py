"""Reports and appeals: round trips over HTTP, and every refusal."""

from __future__ import annotations

from typing import Any

from tests.test_moderation_support import has_chat, make_cast, record_events, store_message


def _code(r: Any) -> str:
    return r.json()["error"]["code"]


async def test_report_round_trip(server: Any) -> None:
    cast = await make_cast(server)
    try:
        cid = cast.cid
        post = (await cast["member2"].post(f"/v1/communities/{cid}/posts", json={"text": "buy pills"})).json()
        r = await cast["member"].post(
            f"/v1/communities/{cid}/reports", json={"target": {"type": "post", "id": post["id"]}, "reason": "spam"}
        )
        assert r.status_code == 201, r.text
        report = r.json()
        assert report["status"] == "open" and report["resolution"] is None and "reporter_id" not in report

        r = await cast["member"].post(
            f"/v1/communities/{cid}/reports", json={"target": {"type": "post", "id": post["id"]}, "reason": "again"}
        )
        assert r.status_code == 409 and _code(r) == "conflict"

        # Moderators list them; members may not.
        r = await cast["member"].get(f"/v1/communities/{cid}/reports")
        assert r.status_code == 403 and _code(r) == "forbidden"
        listed = (await cast["moderator"].get(f"/v1/communities/{cid}/reports")).json()["items"]
        assert [x["id"] for x in listed] == [report["id"]] and listed[0]["reporter_id"] == cast.ids["member"]

        r = await cast["member"].post(f"/v1/reports/{report['id']}/resolve", json={"resolution": "no"})
        assert r.status_code == 403
        r = await cast["moderator"].post(f"/v1/reports/{report['id']}/resolve", json={"resolution": "removed, thanks"})
        assert r.status_code == 200 and r.json()["status"] == "resolved"
        r = await cast["moderator"].post(f"/v1/reports/{report['id']}/resolve", json={"resolution": "twice"})
        assert r.status_code == 409
        r = await cast["moderator"].post("/v1/reports/nope/resolve", json={"resolution": "x"})
        assert r.status_code == 404

        # The reporter reads the answer.
        mine = (await cast["member"].get("/v1/me/reports")).json()["items"]
        assert mine[0]["id"] == report["id"] and mine[0]["resolution"] == "removed, thanks"
        one = (await cast["member"].get(f"/v1/reports/{report['id']}")).json()
        assert one["status"] == "resolved"
        assert (await cast["member2"].get(f"/v1/reports/{report['id']}")).status_code == 404
        assert (await cast["moderator"].get(f"/v1/communities/{cid}/reports")).json()["items"] == []
        done = (await cast["moderator"].get(f"/v1/communities/{cid}/reports", params={"status": "resolved"})).json()
        assert done["items"][0]["resolved_by"] == cast.ids["moderator"]
        r = await cast["moderator"].get(f"/v1/communities/{cid}/reports", params={"status": "pending"})
        assert r.status_code == 422
    finally:
        await cast.close()


async def test_report_refusals(server: Any) -> None:
    cast = await make_cast(server)
    try:
        url = f"/v1/communities/{cast.cid}/reports"
        r = await cast["outsider"].post(url, json={"target": {"type": "user", "id": cast.ids["member"]}, "reason": "x"})
        assert r.status_code == 403 and _code(r) == "not_member"
        for target in ({"type": "post", "id": "nope"}, {"type": "comment", "id": "nope"},
                       {"type": "user", "id": "nope"}):
            r = await cast["member"].post(url, json={"target": target, "reason": "x"})
            assert r.status_code == 404, target
        r = await cast["member"].post(url, json={"target": {"type": "video", "id": "x"}, "reason": "x"})
        assert r.status_code == 422
        r = await cast["member"].post(url, json={"target": {"type": "user", "id": cast.ids["member2"]}})
        assert r.status_code == 422 and "reason" in r.json()["error"]["fields"]
        message = await store_message(server, f"community:{cast.cid}", cast.ids["member2"])
        r = await cast["member"].post(url, json={"target": {"type": "message", "id": message}, "reason": "slur"})
        assert r.status_code == 201
        if has_chat():
            r = await cast["member"].post(url, json={"target": {"type": "message", "id": "nope"}, "reason": "x"})
            assert r.status_code == 404
        r = await cast["member"].post(url, json={"target": {"type": "user", "id": cast.ids["member2"]}, "reason": "x"})
        assert r.status_code == 201
    finally:
        await cast.close()


async def test_appeal_overturned_lifts_the_ban(server: Any) -> None:
    cast = await make_cast(server)
    seen = record_events(server, "moderation.action")
    try:
        cid, member = cast.cid, cast.ids["member"]
        action = (await cast.act("moderator", action="ban", user_id=member, reason="misread")).json()

        # The user finds the action (it names them) and appeals it; nobody else can.
        mine = (await cast["member"].get("/v1/me/moderation")).json()["items"]
        assert mine[0]["id"] == action["id"] and mine[0]["appeal"] is None
        r = await cast["member2"].post(f"/v1/moderation/{action['id']}/appeal", json={"text": "me too"})
        assert r.status_code == 403 and _code(r) == "forbidden"
        r = await cast["member"].post(f"/v1/moderation/{action['id']}/appeal", json={"text": "it was a joke"})
        assert r.status_code == 201, r.text
        appeal = r.json()
        assert appeal["status"] == "pending" and appeal["action"]["id"] == action["id"]
        r = await cast["member"].post(f"/v1/moderation/{action['id']}/appeal", json={"text": "again"})
        assert r.status_code == 409 and _code(r) == "conflict"
        r = await cast["member"].post("/v1/moderation/nope/appeal", json={"text": "x"})
        assert r.status_code == 404

        # Admins decide; moderators cannot.
        listed = (await cast["admin"].get(f"/v1/communities/{cid}/appeals")).json()["items"]
        assert [a["id"] for a in listed] == [appeal["id"]]
        r = await cast["moderator"].get(f"/v1/communities/{cid}/appeals")
        assert r.status_code == 403
        body = {"decision": "overturned", "response": "agreed, sorry"}
        r = await cast["moderator"].post(f"/v1/appeals/{appeal['id']}/decide", json=body)
        assert r.status_code == 403
        r = await cast["admin"].post(f"/v1/appeals/{appeal['id']}/decide", json={"decision": "maybe", "response": "x"})
        assert r.status_code == 422
        r = await cast["admin"].post(f"/v1/appeals/{appeal['id']}/decide", json=body)
        assert r.status_code == 200 and r.json()["status"] == "overturned"
        assert r.json()["action"]["overturned"] is True
        r = await cast["admin"].post(f"/v1/appeals/{appeal['id']}/decide", json=body)
        assert r.status_code == 409
        r = await cast["admin"].post("/v1/appeals/nope/decide", json=body)
        assert r.status_code == 404

        # The ban is lifted (logged as an unban, told to the user) and the user sees the answer.
        assert (await cast["member"].post(f"/v1/communities/{cid}/join")).status_code == 200
        assert [e["action"] for e in seen] == ["ban", "unban"] and seen[1]["user_id"] == member
        answer = (await cast["member"].get("/v1/me/appeals")).json()["items"][0]
        assert answer["status"] == "overturned" and answer["response"] == "agreed, sorry"
        assert "decided_by" not in answer
        log = (await cast["member"].get(f"/v1/communities/{cid}/moderation/log")).json()["items"]
        assert [e["action"] for e in log] == ["unban", "ban"] and log[1]["overturned"] is True
        # An overturned action cannot be appealed again.
        r = await cast["member"].post(f"/v1/moderation/{log[0]['id']}/appeal", json={"text": "x"})
        assert r.status_code == 409
    finally:
        await cast.close()


async def test_appeal_upheld_and_deleted_post_restored(server: Any) -> None:
    cast = await make_cast(server)
    try:
        cid, member = cast.cid, cast.ids["member"]
        mute = (await cast.act("moderator", action="mute", user_id=member, duration_seconds=600)).json()
        appeal = (await cast["member"].post(f"/v1/moderation/{mute['id']}/appeal", json={"text": "why"})).json()
        r = await cast["owner"].post(f"/v1/appeals/{appeal['id']}/decide",
                                     json={"decision": "upheld", "response": "rules are rules"})
        assert r.status_code == 200 and r.json()["status"] == "upheld"
        r = await cast["member"].post(f"/v1/communities/{cid}/posts", json={"text": "x"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "muted"
        await cast.act("moderator", action="unmute", user_id=member)

        post = (await cast["member"].post(f"/v1/communities/{cid}/posts", json={"text": "fine"})).json()
        deletion = (await cast.act("moderator", action="delete", target={"type": "post", "id": post["id"]})).json()
        assert deletion["user_id"] == member
        appeal = (await cast["member"].post(f"/v1/moderation/{deletion['id']}/appeal", json={"text": "ok?"})).json()
        await cast["admin"].post(
            f"/v1/appeals/{appeal['id']}/decide", json={"decision": "overturned", "response": "ok"}
        )
        assert (await cast["member2"].get(f"/v1/posts/{post['id']}")).status_code == 200

        # Lifting actions cannot be appealed.
        unmute = (await cast["member"].get(f"/v1/communities/{cid}/moderation/log")).json()["items"]
        lift = next(e for e in unmute if e["action"] == "unmute")
        r = await cast["member"].post(f"/v1/moderation/{lift['id']}/appeal", json={"text": "x"})
        assert r.status_code == 409
    finally:
        await cast.close()


async def test_racing_appeals_store_one(server: Any) -> None:
    import asyncio

    cast = await make_cast(server)
    try:
        action = (await cast.act("moderator", action="mute", user_id=cast.ids["member"])).json()
        results = await asyncio.gather(*(
            cast["member"].post(f"/v1/moderation/{action['id']}/appeal", json={"text": f"try {i}"}) for i in range(5)
        ))
        assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]
    finally:
        await cast.close()


async def test_an_owners_action_is_decided_by_the_owner(server: Any) -> None:
    cast = await make_cast(server)
    try:
        action = (await cast.act("owner", action="timeout", user_id=cast.ids["moderator"], duration_seconds=60)).json()
        appeal = (await cast["moderator"].post(f"/v1/moderation/{action['id']}/appeal", json={"text": "x"})).json()
        body = {"decision": "overturned", "response": "no"}
        r = await cast["admin"].post(f"/v1/appeals/{appeal['id']}/decide", json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await cast["owner"].post(f"/v1/appeals/{appeal['id']}/decide", json=body)
        assert r.status_code == 200 and r.json()["status"] == "overturned"
    finally:
        await cast.close()
