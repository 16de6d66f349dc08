"""A ban takes the banned member's invitations with it: their unused codes are revoked in the
ban's transaction and answer 410 `invite_invalid`, on both databases."""

from __future__ import annotations

from tests.support.communities import add_member, ban, error_of, make_community, people
from tests.support.servers import RunningServer


async def test_a_ban_revokes_the_members_unused_invites(server: RunningServer) -> None:
    async with people(server, "owner", "bob", "friend", "late", "later") as (owner, bob, friend, late, later):
        community = await make_community(owner, join_policy="invite")
        cid = community["id"]
        await add_member(owner, community, bob)
        used = (await bob.ok("POST", f"/v1/communities/{cid}/invites", 201, json={}))["code"]
        await friend.ok("POST", f"/v1/invites/{used}/accept")
        unused = [(await bob.ok("POST", f"/v1/communities/{cid}/invites", 201, json={}))["code"] for _ in range(2)]
        staff_code = (await owner.ok("POST", f"/v1/communities/{cid}/invites", 201, json={}))["code"]

        await owner.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                       json={"action": "ban", "user_id": bob.id, "reason": "spam"})

        listed = {i["code"]: i for i in (await owner.ok("GET", f"/v1/communities/{cid}/invites?limit=100"))["items"]}
        assert all(listed[c]["revoked_at"] is not None for c in unused)
        assert listed[used]["revoked_at"] is None and listed[used]["used_by"] == friend.id
        assert listed[staff_code]["revoked_at"] is None
        for code in unused:
            error_of(await late.call("POST", f"/v1/invites/{code}/accept"), 410, "invite_invalid")
        members = await owner.ok("GET", f"/v1/communities/{cid}/members?limit=100")
        assert late.id not in {m["user_id"] for m in members["items"]}
        assert friend.id in {m["user_id"] for m in members["items"]}  # who already joined stays

        # Lifting the ban does not bring the codes back.
        await owner.ok("POST", f"/v1/communities/{cid}/moderation", 201,
                       json={"action": "unban", "user_id": bob.id, "reason": "second chance"})
        error_of(await late.call("POST", f"/v1/invites/{unused[0]}/accept"), 410, "invite_invalid")
        # Other people's invitations still work.
        await later.ok("POST", f"/v1/invites/{staff_code}/accept")


async def test_a_code_of_a_banned_creator_is_refused_even_if_not_marked(server: RunningServer) -> None:
    """Codes made before this rule (or a ban imposed outside the moderation API) are refused
    at use while their creator is banned."""
    async with people(server, "owner", "bob", "late") as (owner, bob, late):
        community = await make_community(owner, join_policy="invite")
        cid = community["id"]
        await add_member(owner, community, bob)
        code = (await bob.ok("POST", f"/v1/communities/{cid}/invites", 201, json={}))["code"]
        await ban(server, cid, bob.id)  # the sanction row only, as a ban from before
        listed = {i["code"]: i for i in (await owner.ok("GET", f"/v1/communities/{cid}/invites?limit=100"))["items"]}
        assert listed[code]["revoked_at"] is None
        error = error_of(await late.call("POST", f"/v1/invites/{code}/accept"), 410, "invite_invalid")
        assert "banned" in error["message"]
