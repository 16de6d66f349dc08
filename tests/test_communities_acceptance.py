"""The acceptance scenario of communities, as a new user would live it, and the OpenAPI document."""

from __future__ import annotations

from tests.support.communities import error_of, people
from tests.support.servers import RunningServer


async def test_a_new_users_story(server: RunningServer) -> None:
    async with people(server, "alice", "bob", "carol", "dave", *[f"friend{i}" for i in range(6)]) as crowd:
        alice, bob, carol, dave, friends = crowd[0], crowd[1], crowd[2], crowd[3], crowd[4:]

        # alice creates three communities; the fourth is refused.
        made = []
        for name, policy in (("Night Owls", "open"), ("Book Club", "invite"), ("Chess", "open")):
            made.append(await alice.ok("POST", "/v1/communities", 201, json={"name": name, "join_policy": policy}))
        error_of(await alice.call("POST", "/v1/communities", json={"name": "One too many", "join_policy": "open"}),
                 409, "community_limit")
        owls = made[0]["id"]

        # bob joins alice's open community and is granted 5 invitations.
        joined = await bob.ok("POST", f"/v1/communities/{owls}/join")
        assert joined["role"] == "member" and joined["invites_left"] == 5

        # alice posts; carol, not a member, reads it but cannot post, like or comment.
        post = await alice.ok("POST", f"/v1/communities/{owls}/posts", 201, json={"text": "First night 🌙"})
        feed = await carol.ok("GET", f"/v1/communities/{owls}/posts")
        assert [p["text"] for p in feed["items"]] == ["First night 🌙"]
        error_of(await carol.call("POST", f"/v1/communities/{owls}/posts", json={"text": "me too"}), 403, "not_member")
        error_of(await carol.call("POST", f"/v1/posts/{post['id']}/like"), 403, "not_member")
        error_of(await carol.call("POST", f"/v1/posts/{post['id']}/comments", json={"text": "hi"}), 403, "not_member")

        # bob invites 5 people; the 6th invite is refused.
        codes = []
        for left in (4, 3, 2, 1, 0):
            invite = await bob.ok("POST", f"/v1/communities/{owls}/invites", 201, json={})
            assert invite["invites_left"] == left
            codes.append(invite["code"])
        error_of(await bob.call("POST", f"/v1/communities/{owls}/invites", json={}), 403, "invite_quota_exhausted")

        # An invite works once; used a second time it fails.
        welcomed = await friends[0].ok("POST", f"/v1/invites/{codes[0]}/accept")
        assert welcomed["invited_by"] == bob.id
        error_of(await friends[1].call("POST", f"/v1/invites/{codes[0]}/accept"), 410, "invite_invalid")

        # alice makes dave an admin; dave announces to one group, and that group's members see it.
        await dave.ok("POST", f"/v1/communities/{owls}/join")
        await alice.ok("PATCH", f"/v1/communities/{owls}/members/{dave.id}", json={"role": "admin"})
        group = await dave.ok("POST", f"/v1/communities/{owls}/groups", 201, json={"name": "Stargazers"})
        await bob.ok("POST", f"/v1/groups/{group['id']}/join")
        note = await dave.ok("POST", f"/v1/communities/{owls}/announcements", 201,
                             json={"text": "Meteor shower tonight!", "group_ids": [group["id"]]})
        for_bob = await bob.ok("GET", f"/v1/communities/{owls}/announcements")
        assert [a["id"] for a in for_bob["items"]] == [note["id"]]
        assert for_bob["items"][0]["group_ids"] == [group["id"]]
        not_for_friend = await friends[0].ok("GET", f"/v1/communities/{owls}/announcements")
        assert not_for_friend["items"] == []


ROUTES = {
    ("post", "/v1/communities"): "CommunityCreate",
    ("get", "/v1/communities"): None,
    ("get", "/v1/communities/{cid}"): None,
    ("patch", "/v1/communities/{cid}"): "CommunityPatch",
    ("delete", "/v1/communities/{cid}"): None,
    ("post", "/v1/communities/{cid}/join"): None,
    ("post", "/v1/communities/{cid}/leave"): None,
    ("get", "/v1/communities/{cid}/members"): None,
    ("patch", "/v1/communities/{cid}/members/{uid}"): "RoleChange",
    ("post", "/v1/communities/{cid}/transfer"): "OwnershipTransfer",
    ("post", "/v1/communities/{cid}/invites"): "InviteCreate",
    ("get", "/v1/communities/{cid}/invites"): None,
    ("post", "/v1/invites/{code}/accept"): None,
    ("delete", "/v1/invites/{code}"): None,
    ("post", "/v1/communities/{cid}/join-requests"): "JoinRequestCreate",
    ("get", "/v1/communities/{cid}/join-requests"): None,
    ("get", "/v1/join-requests/{rid}"): None,
    ("post", "/v1/join-requests/{rid}/approve"): None,
    ("post", "/v1/join-requests/{rid}/reject"): None,
    ("post", "/v1/communities/{cid}/groups"): "GroupCreate",
    ("get", "/v1/communities/{cid}/groups"): None,
    ("get", "/v1/groups/{gid}"): None,
    ("patch", "/v1/groups/{gid}"): "GroupPatch",
    ("post", "/v1/groups/{gid}/join"): None,
    ("post", "/v1/groups/{gid}/leave"): None,
    ("post", "/v1/communities/{cid}/announcements"): "AnnouncementCreate",
    ("get", "/v1/communities/{cid}/announcements"): None,
    ("post", "/v1/communities/{cid}/posts"): "PostCreate",
    ("get", "/v1/communities/{cid}/posts"): None,
    ("get", "/v1/posts/{pid}"): None,
    ("delete", "/v1/posts/{pid}"): None,
    ("post", "/v1/posts/{pid}/like"): None,
    ("delete", "/v1/posts/{pid}/like"): None,
    ("post", "/v1/posts/{pid}/comments"): "TextBody",
    ("get", "/v1/posts/{pid}/comments"): None,
    ("delete", "/v1/comments/{comment_id}"): None,
    ("post", "/v1/posts/{pid}/share"): "ShareBody",
}


async def test_openapi_lists_every_community_route_with_its_schemas(server: RunningServer) -> None:
    async with people(server, "reader") as (reader,):
        doc = await reader.ok("GET", "/openapi.json")
    schemas = doc["components"]["schemas"]
    for (method, path), body in ROUTES.items():
        op = doc["paths"][path][method]
        assert op["summary"], (method, path)
        assert "401" in op["responses"]
        if body is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/" + body) and body in schemas
    create = schemas["CommunityCreate"]
    assert set(create["required"]) == {"name", "join_policy"}
    assert create["properties"]["join_policy"]["enum"] == ["open", "invite"]
    discover = {p["name"] for p in doc["paths"]["/v1/communities"]["get"]["parameters"]}
    assert {"q", "topic", "cursor", "limit"} <= discover
    members = {p["name"] for p in doc["paths"]["/v1/communities/{cid}/members"]["get"]["parameters"]}
    assert {"role", "cursor", "cid"} <= members
    codes = doc["paths"]["/v1/communities"]["post"]["responses"]["409"]["description"]
    assert "community_limit" in codes
    assert "invite_invalid" in doc["paths"]["/v1/invites/{code}/accept"]["post"]["responses"]["410"]["description"]
    assert "message_too_long" in doc["paths"]["/v1/communities/{cid}/posts"]["post"]["responses"]["422"]["description"]
