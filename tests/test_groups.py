"""Groups (create, rename, archive, join, leave) and announcements (to all or to groups)."""

from __future__ import annotations

from tests.support.communities import add_member, error_of, make_community, people
from tests.support.servers import RunningServer


async def test_groups_lifecycle(server: RunningServer) -> None:
    async with people(server, "owner", "admin", "mod", "member", "outsider") as (owner, admin, mod, member, outsider):
        c = await make_community(owner)
        cid = c["id"]
        await add_member(owner, c, admin, "admin")
        await add_member(owner, c, mod, "moderator")
        await add_member(owner, c, member)
        g = await admin.ok("POST", f"/v1/communities/{cid}/groups", 201, json={"name": "Riders 🏍", "description": "d"})
        assert g["room"] == f"group:{g['id']}" and g["member_count"] == 0 and g["joined"] is False
        assert g["community_id"] == cid and g["archived"] is False
        error_of(await mod.call("POST", f"/v1/communities/{cid}/groups", json={"name": "x"}), 403, "forbidden")
        error_of(await outsider.call("POST", f"/v1/communities/{cid}/groups", json={"name": "x"}), 403, "not_member")
        for body in ({}, {"name": ""}, {"name": 1}, {"name": "x" * 101}):
            error_of(await admin.call("POST", f"/v1/communities/{cid}/groups", json=body), 422, "invalid_request")
        error_of(await admin.call("POST", "/v1/communities/nope/groups", json={"name": "x"}), 404, "not_found")
        gid = g["id"]
        joined = await member.ok("POST", f"/v1/groups/{gid}/join")
        assert joined["joined"] is True and joined["member_count"] == 1
        error_of(await member.call("POST", f"/v1/groups/{gid}/join"), 409, "conflict")
        error_of(await outsider.call("POST", f"/v1/groups/{gid}/join"), 403, "not_member")
        await mod.ok("POST", f"/v1/groups/{gid}/join")
        listed = await outsider.ok("GET", f"/v1/communities/{cid}/groups")
        assert [(x["id"], x["member_count"], x["joined"]) for x in listed["items"]] == [(gid, 2, False)]
        assert (await member.ok("GET", f"/v1/communities/{cid}/groups"))["items"][0]["joined"] is True
        renamed = await admin.ok("PATCH", f"/v1/groups/{gid}", json={"name": "Bikers", "description": "new"})
        assert renamed["name"] == "Bikers" and renamed["description"] == "new" and renamed["member_count"] == 2
        error_of(await mod.call("PATCH", f"/v1/groups/{gid}", json={"name": "no"}), 403, "forbidden")
        error_of(await admin.call("PATCH", f"/v1/groups/{gid}", json={"name": None}), 422, "invalid_request")
        error_of(await admin.call("PATCH", f"/v1/groups/{gid}", json={"archived": "yes"}), 422, "invalid_request")
        left = await member.ok("POST", f"/v1/groups/{gid}/leave")
        assert left["joined"] is False and left["member_count"] == 1
        error_of(await member.call("POST", f"/v1/groups/{gid}/leave"), 409, "conflict")
        archived = await owner.ok("PATCH", f"/v1/groups/{gid}", json={"archived": True})
        assert archived["archived"] is True and archived["archived_at"]
        assert (await member.ok("GET", f"/v1/communities/{cid}/groups"))["items"] == []
        archived = (await member.ok("GET", f"/v1/communities/{cid}/groups?archived=true"))["items"]
        assert [x["id"] for x in archived] == [gid]
        error_of(await member.call("POST", f"/v1/groups/{gid}/join"), 409, "conflict")
        assert (await owner.ok("PATCH", f"/v1/groups/{gid}", json={"archived": False}))["archived"] is False
        await member.ok("POST", f"/v1/groups/{gid}/join")
        assert (await member.ok("GET", f"/v1/groups/{gid}"))["joined"] is True
        # Leaving the community leaves its groups.
        await member.ok("POST", f"/v1/communities/{cid}/leave")
        assert (await member.ok("GET", f"/v1/groups/{gid}"))["joined"] is False
        for method, path in (("GET", "/v1/groups/nope"), ("POST", "/v1/groups/nope/join"),
                             ("POST", "/v1/groups/nope/leave"), ("PATCH", "/v1/groups/nope")):
            error_of(await owner.call(method, path, json={}), 404, "not_found")
        error_of(await owner.call("GET", f"/v1/communities/{cid}/groups?archived=maybe"), 422, "invalid_request")


async def test_announcements_reach_the_right_people(server: RunningServer) -> None:
    heard: list[dict] = []

    async def on_announcement(payload: dict) -> None:
        heard.append(payload)

    server.services.events.on("announcement", on_announcement)
    async with people(server, "owner", "admin", "mod", "rider", "walker", "outsider") as crowd:
        owner, admin, mod, rider, walker, outsider = crowd
        c = await make_community(owner)
        cid = c["id"]
        for p, role in ((admin, "admin"), (mod, "moderator"), (rider, "member"), (walker, "member")):
            await add_member(owner, c, p, role)
        riders = (await owner.ok("POST", f"/v1/communities/{cid}/groups", 201, json={"name": "riders"}))["id"]
        walkers = (await owner.ok("POST", f"/v1/communities/{cid}/groups", 201, json={"name": "walkers"}))["id"]
        await rider.ok("POST", f"/v1/groups/{riders}/join")
        await walker.ok("POST", f"/v1/groups/{walkers}/join")
        to_all = await admin.ok("POST", f"/v1/communities/{cid}/announcements", 201, json={"text": "Welcome! أهلاً"})
        assert to_all["group_ids"] == [] and to_all["text"] == "Welcome! أهلاً" and to_all["author_id"] == admin.id
        to_riders = await admin.ok("POST", f"/v1/communities/{cid}/announcements", 201,
                                   json={"text": "Ride at 6", "group_ids": [riders, riders]})
        assert to_riders["group_ids"] == [riders]
        assert [(h["id"], h["group_ids"], h["community_id"]) for h in heard] == [
            (to_all["id"], [], cid), (to_riders["id"], [riders], cid)]
        assert set(heard[0]) >= {"community_id", "id", "text", "group_ids", "created_at"}

        async def seen(p) -> list[str]:
            return [a["id"] for a in (await p.ok("GET", f"/v1/communities/{cid}/announcements"))["items"]]

        assert await seen(rider) == [to_riders["id"], to_all["id"]]
        assert await seen(walker) == [to_all["id"]]
        assert await seen(outsider) == [to_all["id"]]
        assert await seen(owner) == [to_riders["id"], to_all["id"]]
        page = await rider.ok("GET", f"/v1/communities/{cid}/announcements?limit=1")
        page2 = await rider.ok("GET", f"/v1/communities/{cid}/announcements?limit=1&cursor={page['next_cursor']}")
        assert [page["items"][0]["id"], page2["items"][0]["id"]] == [to_riders["id"], to_all["id"]]
        error_of(await mod.call("POST", f"/v1/communities/{cid}/announcements", json={"text": "x"}), 403, "forbidden")
        error_of(
            await outsider.call("POST", f"/v1/communities/{cid}/announcements", json={"text": "x"}), 403, "not_member"
        )
        err = error_of(await admin.call("POST", f"/v1/communities/{cid}/announcements",
                                        json={"text": "x", "group_ids": ["nope"]}), 422, "invalid_request")
        assert "group_ids" in err["fields"]
        other = await make_community(owner, name="other")
        foreign = (await owner.ok("POST", f"/v1/communities/{other['id']}/groups", 201, json={"name": "f"}))["id"]
        error_of(await admin.call("POST", f"/v1/communities/{cid}/announcements",
                                  json={"text": "x", "group_ids": [foreign]}), 422, "invalid_request")
        error_of(await admin.call("POST", f"/v1/communities/{cid}/announcements", json={"text": "x" * 5001}),
                 422, "message_too_long")
        error_of(
            await admin.call("POST", f"/v1/communities/{cid}/announcements", json={"text": " "}), 422, "invalid_request"
        )
        error_of(await admin.call("POST", f"/v1/communities/{cid}/announcements", json={"group_ids": []}),
                 422, "invalid_request")
        error_of(await admin.call("GET", "/v1/communities/nope/announcements"), 404, "not_found")
        assert len(heard) == 2


async def test_members_only_communities_hide_everything_from_outsiders(server: RunningServer) -> None:
    async with people(server, "owner", "outsider") as (owner, outsider):
        c = await make_community(owner, read_policy="members", join_policy="invite")
        cid = c["id"]
        gid = (await owner.ok("POST", f"/v1/communities/{cid}/groups", 201, json={"name": "inner"}))["id"]
        await owner.ok("POST", f"/v1/communities/{cid}/announcements", 201, json={"text": "secret"})
        pid = (await owner.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "secret"}))["id"]
        for method, path in (
            ("GET", f"/v1/communities/{cid}"), ("GET", f"/v1/communities/{cid}/groups"),
            ("GET", f"/v1/communities/{cid}/announcements"), ("GET", f"/v1/communities/{cid}/members"),
            ("GET", f"/v1/communities/{cid}/posts"), ("GET", f"/v1/groups/{gid}"), ("POST", f"/v1/groups/{gid}/join"),
            ("GET", f"/v1/posts/{pid}"), ("GET", f"/v1/posts/{pid}/comments"), ("POST", f"/v1/posts/{pid}/share"),
        ):
            error_of(await outsider.call(method, path, json={}), 404, "not_found")
        assert cid not in [x["id"] for x in (await outsider.ok("GET", "/v1/communities?q=owner"))["items"]]
        # Yet an invite-only members-only community can still be asked to join, by id.
        await outsider.ok("POST", f"/v1/communities/{cid}/join-requests", 201, json={"message": "hello"})
