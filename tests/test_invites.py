"""Invitations (quota, single use, expiry, revoke) and join requests, on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import update

from live.communities.models import Invite
from tests.support.communities import Person, add_member, ban, error_of, make_community, people
from tests.support.servers import RunningServer


async def _invite(p: Person, cid: str, expect: int = 201) -> dict:
    return await p.ok("POST", f"/v1/communities/{cid}/invites", expect, json={})


async def test_member_quota_spend_use_and_revoke(server: RunningServer) -> None:
    async with people(server, "owner", "bob", "g1", "g2", "other") as (owner, bob, g1, g2, other):
        c = await make_community(owner, join_policy="invite")
        cid = c["id"]
        await add_member(owner, c, bob)
        first = await _invite(bob, cid)
        assert first["invites_left"] == 4 and first["community_id"] == cid and len(first["code"]) >= 20
        lifetime = dt.datetime.fromisoformat(first["expires_at"]) - dt.datetime.fromisoformat(first["created_at"])
        assert lifetime == dt.timedelta(days=7)
        joined = await g1.ok("POST", f"/v1/invites/{first['code']}/accept")
        assert joined["invited_by"] == bob.id and joined["role"] == "member" and joined["invites_left"] == 5
        error_of(await g2.call("POST", f"/v1/invites/{first['code']}/accept"), 410, "invite_invalid")
        # A used invite cannot be revoked (its invitation stays spent).
        error_of(await bob.call("DELETE", f"/v1/invites/{first['code']}"), 410, "invite_invalid")
        codes = [(await _invite(bob, cid))["code"] for _ in range(4)]
        err = error_of(await bob.call("POST", f"/v1/communities/{cid}/invites", json={}), 403, "invite_quota_exhausted")
        assert "no invitations" in err["message"]
        # Revoking an unused one gives it back, once.
        back = await bob.ok("DELETE", f"/v1/invites/{codes[0]}")
        assert back["revoked_at"] is not None and back["invites_left"] == 1
        error_of(await bob.call("DELETE", f"/v1/invites/{codes[0]}"), 410, "invite_invalid")
        error_of(await g2.call("POST", f"/v1/invites/{codes[0]}/accept"), 410, "invite_invalid")
        assert (await _invite(bob, cid))["invites_left"] == 0
        # Someone else's code is not theirs to revoke (and not revealed); a moderator may.
        error_of(await g1.call("DELETE", f"/v1/invites/{codes[1]}"), 404, "not_found")
        error_of(await other.call("DELETE", f"/v1/invites/{codes[1]}"), 404, "not_found")
        revoked = await owner.ok("DELETE", f"/v1/invites/{codes[1]}")
        assert revoked["invites_left"] == 1  # bob's invitation came back
        mine = await bob.ok("GET", f"/v1/communities/{cid}/invites?limit=100")
        assert {i["code"] for i in mine["items"]} == {first["code"], *codes, mine["items"][0]["code"]}
        assert all(i["created_by"] == bob.id for i in mine["items"])
        assert any(i["used_by"] == g1.id for i in mine["items"])
        page = await bob.ok("GET", f"/v1/communities/{cid}/invites?limit=2")
        page2 = await bob.ok("GET", f"/v1/communities/{cid}/invites?limit=2&cursor={page['next_cursor']}")
        assert not {i["code"] for i in page["items"]} & {i["code"] for i in page2["items"]}
        error_of(await bob.call("GET", f"/v1/communities/{cid}/invites?cursor=WyJ4IiwieSJd"), 422, "invalid_request")
        error_of(await other.call("GET", f"/v1/communities/{cid}/invites"), 403, "not_member")
        members = await owner.ok("GET", f"/v1/communities/{cid}/members?limit=100")
        assert {m["user_id"]: m["invited_by"] for m in members["items"]}[g1.id] == bob.id


async def test_staff_have_no_quota_and_expiry_and_unknown_codes(server: RunningServer) -> None:
    async with people(server, "owner", "mod", "late", "twice") as (owner, mod, late, twice):
        c = await make_community(owner, join_policy="invite")
        cid = c["id"]
        await add_member(owner, c, mod, "moderator")
        made = [await _invite(mod, cid) for _ in range(7)]
        assert all(i["invites_left"] is None for i in made)
        assert len({i["code"] for i in made}) == 7
        async with server.services.db.session() as session:
            await session.execute(
                update(Invite).where(Invite.code == made[0]["code"])
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        err = error_of(await late.call("POST", f"/v1/invites/{made[0]['code']}/accept"), 410, "invite_invalid")
        assert "expired" in err["message"]
        error_of(await late.call("POST", "/v1/invites/no-such-code/accept"), 404, "not_found")
        error_of(await owner.call("DELETE", "/v1/invites/no-such-code"), 404, "not_found")
        # Already a member: 409, and the invite stays usable for someone else.
        await twice.ok("POST", f"/v1/invites/{made[1]['code']}/accept")
        error_of(await twice.call("POST", f"/v1/invites/{made[2]['code']}/accept"), 409, "conflict")
        await late.ok("POST", f"/v1/invites/{made[2]['code']}/accept")
        # Staff see every invite of the community.
        listed = await owner.ok("GET", f"/v1/communities/{cid}/invites?limit=100")
        assert {i["code"] for i in made} <= {i["code"] for i in listed["items"]}
        # The community is gone: its invites too.
        await owner.ok("DELETE", f"/v1/communities/{cid}", 204)
        error_of(await late.call("POST", f"/v1/invites/{made[3]['code']}/accept"), 404, "not_found")


async def test_twenty_simultaneous_accepts_make_one_membership(server: RunningServer) -> None:
    async with people(server, "owner", *[f"racer{i}" for i in range(20)]) as crowd:
        owner, racers = crowd[0], crowd[1:]
        c = await make_community(owner, join_policy="invite")
        code = (await _invite(owner, c["id"]))["code"]
        for r in racers:  # first sight of each user happens before the race
            await r.ok("GET", "/v1/me")
        results = await asyncio.gather(*(r.call("POST", f"/v1/invites/{code}/accept") for r in racers))
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) == 1 and codes.count(410) == 19, codes
        members = await owner.ok("GET", f"/v1/communities/{c['id']}/members?limit=100")
        assert len(members["items"]) == 2
        assert (await owner.ok("GET", f"/v1/communities/{c['id']}"))["member_count"] == 2


async def test_concurrent_invites_never_overspend(server: RunningServer) -> None:
    async with people(server, "owner", "spender") as (owner, spender):
        c = await make_community(owner)
        await spender.ok("POST", f"/v1/communities/{c['id']}/join")
        results = await asyncio.gather(*(
            spender.call("POST", f"/v1/communities/{c['id']}/invites", json={}) for _ in range(12)
        ))
        assert sorted(r.status_code for r in results) == [201] * 5 + [403] * 7
        assert sorted(r.json()["invites_left"] for r in results if r.status_code == 201) == [0, 1, 2, 3, 4]


async def test_banned_users_cannot_get_back_in(server: RunningServer) -> None:
    async with people(server, "owner", "troll") as (owner, troll):
        c = await make_community(owner)
        cid = c["id"]
        await troll.ok("POST", f"/v1/communities/{cid}/join")
        await ban(server, cid, troll.id)
        error_of(await troll.call("POST", f"/v1/communities/{cid}/join"), 403, "banned")
        code = (await _invite(owner, cid))["code"]
        error_of(await troll.call("POST", f"/v1/invites/{code}/accept"), 403, "banned")
        await owner.ok("PATCH", f"/v1/communities/{cid}", json={"join_policy": "invite"})
        error_of(await troll.call("POST", f"/v1/communities/{cid}/join-requests", json={}), 403, "banned")


async def test_join_requests(server: RunningServer) -> None:
    async with people(server, "owner", "mod", "member", "asker", "second", "nosy") as crowd:
        owner, mod, member, asker, second, nosy = crowd
        c = await make_community(owner, join_policy="invite")
        cid = c["id"]
        await add_member(owner, c, mod, "moderator")
        await add_member(owner, c, member)
        req = await asker.ok("POST", f"/v1/communities/{cid}/join-requests", 201, json={"message": "let me in 🙏"})
        assert req["status"] == "pending" and req["message"] == "let me in 🙏" and req["user_id"] == asker.id
        error_of(await asker.call("POST", f"/v1/communities/{cid}/join-requests", json={}), 409, "conflict")
        req2 = await second.ok("POST", f"/v1/communities/{cid}/join-requests", 201)
        assert req2["message"] == ""
        error_of(await member.call("POST", f"/v1/communities/{cid}/join-requests", json={}), 409, "conflict")
        error_of(await nosy.call("POST", f"/v1/communities/{cid}/join-requests",
                                 json={"message": "x" * 1001}), 422, "invalid_request")
        error_of(
            await nosy.call("POST", f"/v1/communities/{cid}/join-requests", json={"message": 3}), 422, "invalid_request"
        )
        error_of(await nosy.call("POST", "/v1/communities/nope/join-requests", json={}), 404, "not_found")
        listed = await mod.ok("GET", f"/v1/communities/{cid}/join-requests")
        assert [r["id"] for r in listed["items"]] == [req["id"], req2["id"]]
        page = await mod.ok("GET", f"/v1/communities/{cid}/join-requests?limit=1")
        page2 = await mod.ok("GET", f"/v1/communities/{cid}/join-requests?limit=1&cursor={page['next_cursor']}")
        assert [page["items"][0]["id"], page2["items"][0]["id"]] == [req["id"], req2["id"]]
        error_of(await mod.call("GET", f"/v1/communities/{cid}/join-requests?status=lost"), 422, "invalid_request")
        error_of(await member.call("GET", f"/v1/communities/{cid}/join-requests"), 403, "forbidden")
        error_of(await member.call("POST", f"/v1/join-requests/{req['id']}/approve"), 403, "forbidden")
        # The requester follows their request; others cannot see it.
        assert (await asker.ok("GET", f"/v1/join-requests/{req['id']}"))["status"] == "pending"
        error_of(await nosy.call("GET", f"/v1/join-requests/{req['id']}"), 404, "not_found")
        error_of(await member.call("GET", f"/v1/join-requests/{req['id']}"), 404, "not_found")
        approved = await mod.ok("POST", f"/v1/join-requests/{req['id']}/approve")
        assert approved["status"] == "approved" and approved["decided_by"] == mod.id and approved["decided_at"]
        seen = await asker.ok("GET", f"/v1/join-requests/{req['id']}")
        assert seen["status"] == "approved"
        assert (await asker.ok("GET", f"/v1/communities/{cid}"))["my_role"] == "member"
        error_of(await mod.call("POST", f"/v1/join-requests/{req['id']}/reject"), 409, "conflict")
        rejected = await owner.ok("POST", f"/v1/join-requests/{req2['id']}/reject")
        assert rejected["status"] == "rejected"
        assert (await second.ok("GET", f"/v1/join-requests/{req2['id']}"))["status"] == "rejected"
        assert (await second.ok("GET", f"/v1/communities/{cid}"))["my_role"] is None
        # After a rejection one may ask again.
        await second.ok("POST", f"/v1/communities/{cid}/join-requests", 201, json={"message": "please?"})
        approved = (await mod.ok("GET", f"/v1/communities/{cid}/join-requests?status=approved"))["items"]
        assert [r["id"] for r in approved] == [req["id"]]
        error_of(await mod.call("POST", "/v1/join-requests/nope/approve"), 404, "not_found")
        error_of(await mod.call("GET", "/v1/join-requests/nope"), 404, "not_found")
        open_one = await make_community(owner, name="open")
        error_of(await nosy.call("POST", f"/v1/communities/{open_one['id']}/join-requests", json={}), 409, "conflict")


async def test_decided_events_are_emitted(server: RunningServer) -> None:
    heard: list[dict] = []

    async def on_decided(payload: dict) -> None:
        heard.append(payload)

    server.services.events.on("join_request.decided", on_decided)
    async with people(server, "owner", "asker") as (owner, asker):
        c = await make_community(owner, join_policy="invite")
        req = await asker.ok("POST", f"/v1/communities/{c['id']}/join-requests", 201, json={})
        await owner.ok("POST", f"/v1/join-requests/{req['id']}/approve")
    assert [(h["id"], h["status"], h["user_id"]) for h in heard] == [(req["id"], "approved", asker.id)]


async def test_rejoining_does_not_multiply_outstanding_invites(server: RunningServer) -> None:
    async with people(server, "owner", "hopper") as (owner, hopper):
        cid = (await make_community(owner))["id"]
        await hopper.ok("POST", f"/v1/communities/{cid}/join")
        codes = [(await _invite(hopper, cid))["code"] for _ in range(3)]
        await hopper.ok("POST", f"/v1/communities/{cid}/leave")
        again = await hopper.ok("POST", f"/v1/communities/{cid}/join")
        assert again["invites_left"] == 2  # three codes are still out there
        assert (await hopper.ok("DELETE", f"/v1/invites/{codes[0]}"))["invites_left"] == 3


async def test_racing_join_requests_leave_one_pending(server: RunningServer) -> None:
    async with people(server, "owner", "eager") as (owner, eager):
        c = await make_community(owner, join_policy="invite")
        results = await asyncio.gather(*(
            eager.call("POST", f"/v1/communities/{c['id']}/join-requests", json={}) for _ in range(10)
        ))
        assert sorted(r.status_code for r in results) == [201] + [409] * 9
        assert len((await owner.ok("GET", f"/v1/communities/{c['id']}/join-requests"))["items"]) == 1
