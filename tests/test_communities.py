"""Communities: create (and the ownership limit), discover, read, edit, delete, join, leave,
members, roles and ownership handover, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from tests.support.communities import Person, add_member, error_of, make_community, people
from tests.support.servers import RunningServer


async def test_create_read_and_the_ownership_limit(server: RunningServer) -> None:
    async with people(server, "alice", "bob") as (alice, bob):
        made = [await make_community(alice, name=f"club {i}", topics=["#Jazz", "vinyl", "jazz"]) for i in range(3)]
        c = made[0]
        assert c["owner_id"] == alice.id and c["my_role"] == "owner" and c["member_count"] == 1
        assert c["topics"] == ["jazz", "vinyl"] and c["read_policy"] == "public"
        assert c["created_at"].endswith("Z")
        err = error_of(await alice.call("POST", "/v1/communities", json={"name": "four", "join_policy": "open"}),
                       409, "community_limit")
        assert "3" in err["message"]
        # Someone else's limit is their own; reading shows my_role per caller.
        await make_community(bob)
        seen = await bob.ok("GET", f"/v1/communities/{c['id']}")
        assert seen["my_role"] is None and seen["name"] == "club 0"
        # Deleting one frees a place.
        await alice.ok("DELETE", f"/v1/communities/{c['id']}", 204)
        error_of(await bob.call("GET", f"/v1/communities/{c['id']}"), 404, "not_found")
        error_of(await alice.call("DELETE", f"/v1/communities/{c['id']}"), 404, "not_found")
        await make_community(alice, name="four")
        error_of(await bob.call("GET", "/v1/communities/nope"), 404, "not_found")


BAD_CREATES = [
    ({"join_policy": "open"}, "name"),
    ({"name": "x"}, "join_policy"),
    ({"name": 5, "join_policy": "open"}, "name"),
    ({"name": "   ", "join_policy": "open"}, "name"),
    ({"name": "x" * 101, "join_policy": "open"}, "name"),
    ({"name": "x", "join_policy": "closed"}, "join_policy"),
    ({"name": "x", "join_policy": "open", "read_policy": "secret"}, "read_policy"),
    ({"name": "x", "join_policy": "open", "topics": "jazz"}, "topics"),
    ({"name": "x", "join_policy": "open", "topics": ["two words"]}, "topics.0"),
    ({"name": "x", "join_policy": "open", "topics": ["#"]}, "topics.0"),
    ({"name": "x", "join_policy": "open", "topics": [f"t{i}" for i in range(11)]}, "topics"),
    ({"name": "x", "join_policy": "open", "description": ["no"]}, "description"),
    (["not", "an", "object"], None),
]


async def test_create_validation(server: RunningServer) -> None:
    async with people(server, "val") as (val,):
        for body, field in BAD_CREATES:
            err = error_of(await val.call("POST", "/v1/communities", json=body), 422, "invalid_request")
            if field is not None:
                assert any(k == field or k.startswith(field + ".") for k in err["fields"]), (body, err["fields"])
        bad_json = await val.call("POST", "/v1/communities", content=b"{nope",
                                  headers={"content-type": "application/json"})
        error_of(bad_json, 422, "invalid_request")


async def test_twenty_simultaneous_creates_keep_the_limit(server: RunningServer) -> None:
    async with people(server, "eager") as (eager,):
        tag = eager.id.replace("-", "")
        await make_community(eager, name=f"{tag} first")
        results = await asyncio.gather(*(
            eager.call("POST", "/v1/communities", json={"name": f"{tag} c{i}", "join_policy": "open"})
            for i in range(20)
        ))
        codes = sorted(r.status_code for r in results)
        assert codes.count(201) == 2 and codes.count(409) == 18, codes
        assert all(r.json()["error"]["code"] == "community_limit" for r in results if r.status_code == 409)
        mine = await eager.ok("GET", f"/v1/communities?q={tag}&limit=100")
        assert sum(1 for c in mine["items"] if c["owner_id"] == eager.id) == 3


async def test_discovery_search_topics_counts_and_cursor(server: RunningServer) -> None:
    async with people(server, "d1", "d2", "d3", "reader") as (d1, d2, d3, reader):
        tag = d1.id.replace("-", "")  # unique to this test run: other tests share the database
        big = await make_community(d1, name=f"Salsa {tag} Dancers", topics=[f"dance{tag}"])
        small = await make_community(d2, name=f"salsa {tag} cooks", description="100% spicy_food",
                                     topics=[f"food{tag}"])
        hidden = await make_community(d3, name=f"salsa {tag} secret", read_policy="members")
        await reader.ok("POST", f"/v1/communities/{big['id']}/join")
        found = await reader.ok("GET", f"/v1/communities?q=SALSA+{tag}")
        ids = [c["id"] for c in found["items"]]
        assert ids == [big["id"], small["id"]]  # most members first; members-only hidden
        assert found["items"][0]["member_count"] == 2 and found["items"][0]["my_role"] == "member"
        assert found["next_cursor"] is None
        # Members see their members-only community in discovery.
        own = await d3.ok("GET", f"/v1/communities?q={tag}+secret")
        assert [c["id"] for c in own["items"]] == [hidden["id"]]
        # Topic with or without '#', any case; LIKE wildcards are literal.
        for topic in (f"%23DANCE{tag}", f"dance{tag}"):
            assert [c["id"] for c in (await reader.ok("GET", f"/v1/communities?topic={topic}"))["items"]] == [big["id"]]
        assert [c["id"] for c in (await reader.ok("GET", f"/v1/communities?q={tag}+100%25"))["items"]] == [small["id"]]
        assert (await reader.ok("GET", f"/v1/communities?q={tag}+1_0"))["items"] == []
        # Pages of one.
        page1 = await reader.ok("GET", f"/v1/communities?q={tag}&limit=1")
        page2 = await reader.ok("GET", f"/v1/communities?q={tag}&limit=1&cursor={page1['next_cursor']}")
        assert [page1["items"][0]["id"], page2["items"][0]["id"]] == [big["id"], small["id"]]
        assert page2["next_cursor"] is None
        for bad in ("cursor=%%%", "cursor=WyJ4Il0", "limit=0", "limit=101", "limit=ten", "q=" + "x" * 101):
            err = error_of(await reader.call("GET", f"/v1/communities?{bad}"), 422, "invalid_request")
            assert err["fields"]


async def test_patch_settings(server: RunningServer) -> None:
    async with people(server, "owner", "admin", "mod", "member", "outsider") as (owner, admin, mod, member, outsider):
        tag = owner.id.replace("-", "")
        c = await make_community(owner, topics=[f"old{tag}"])
        cid = c["id"]
        await add_member(owner, c, admin, "admin")
        await add_member(owner, c, mod, "moderator")
        await add_member(owner, c, member)
        changed = await admin.ok("PATCH", f"/v1/communities/{cid}", json={
            "name": "New name", "description": "about", "topics": [f"#New{tag}"], "join_policy": "invite",
            "read_policy": "members", "slow_mode_seconds": 30, "blocked_words": ["spam", "scam"],
            "rules": "Be kind. لطفاً",
        })
        assert (
            changed["name"] == "New name" and changed["topics"] == [f"new{tag}"] and changed["slow_mode_seconds"] == 30
        )
        assert changed["blocked_words"] == ["spam", "scam"] and changed["rules"] == "Be kind. لطفاً"
        assert changed["join_policy"] == "invite" and changed["read_policy"] == "members"
        assert changed["my_role"] == "admin"
        got = await member.ok("GET", f"/v1/communities/{cid}")
        assert got == {**changed, "my_role": "member"}
        assert cid not in [x["id"] for x in (await owner.ok("GET", f"/v1/communities?topic=old{tag}"))["items"]]
        assert cid in [x["id"] for x in (await owner.ok("GET", f"/v1/communities?topic=new{tag}"))["items"]]
        # A partial patch leaves the rest alone.
        assert (await owner.ok("PATCH", f"/v1/communities/{cid}", json={"rules": ""}))["name"] == "New name"
        for body, field in (({"slow_mode_seconds": -1}, "slow_mode_seconds"),
                            ({"slow_mode_seconds": "5"}, "slow_mode_seconds"),
                            ({"name": None}, "name"), ({"join_policy": "maybe"}, "join_policy"),
                            ({"blocked_words": [""]}, "blocked_words.0"), ({"blocked_words": "spam"}, "blocked_words")):
            err = error_of(await admin.call("PATCH", f"/v1/communities/{cid}", json=body), 422, "invalid_request")
            assert any(k.startswith(field) for k in err["fields"]), (body, err)
        error_of(await mod.call("PATCH", f"/v1/communities/{cid}", json={"rules": "x"}), 403, "forbidden")
        error_of(await member.call("PATCH", f"/v1/communities/{cid}", json={"rules": "x"}), 403, "forbidden")
        # Members-only now: to an outsider the community does not exist.
        error_of(await outsider.call("PATCH", f"/v1/communities/{cid}", json={"rules": "x"}), 404, "not_found")
        error_of(await outsider.call("GET", f"/v1/communities/{cid}"), 404, "not_found")
        error_of(await admin.call("PATCH", "/v1/communities/unknown", json={}), 404, "not_found")


async def test_join_leave_and_member_count(server: RunningServer) -> None:
    async with people(server, "owner", "bob") as (owner, bob):
        c = await make_community(owner)
        cid = c["id"]
        m = await bob.ok("POST", f"/v1/communities/{cid}/join")
        assert m == {**m, "community_id": cid, "user_id": bob.id, "role": "member", "invites_left": 5,
                     "invited_by": None}
        assert m["user"] == {"id": bob.id, "name": "bob"}
        error_of(await bob.call("POST", f"/v1/communities/{cid}/join"), 409, "conflict")
        assert (await bob.ok("GET", f"/v1/communities/{cid}"))["member_count"] == 2
        left = await bob.ok("POST", f"/v1/communities/{cid}/leave")
        assert left["my_role"] is None and left["member_count"] == 1 and left["id"] == cid
        assert (await bob.ok("GET", f"/v1/communities/{cid}"))["member_count"] == 1
        error_of(await bob.call("POST", f"/v1/communities/{cid}/leave"), 403, "not_member")
        error_of(await owner.call("POST", f"/v1/communities/{cid}/leave"), 409, "conflict")
        error_of(await bob.call("POST", "/v1/communities/nope/join"), 404, "not_found")
        error_of(await bob.call("POST", "/v1/communities/nope/leave"), 404, "not_found")
        # Invite-only: 403 invite_required. Open but members-only: joinable by id.
        closed = await make_community(owner, join_policy="invite")
        error_of(await bob.call("POST", f"/v1/communities/{closed['id']}/join"), 403, "invite_required")
        private = await make_community(owner, read_policy="members")
        error_of(await bob.call("GET", f"/v1/communities/{private['id']}"), 404, "not_found")
        await bob.ok("POST", f"/v1/communities/{private['id']}/join")
        assert (await bob.ok("GET", f"/v1/communities/{private['id']}"))["my_role"] == "member"


async def test_members_list_role_filter_and_cursor(server: RunningServer) -> None:
    async with people(server, "owner", "m1", "m2", "m3", "mod") as (owner, m1, m2, m3, mod):
        c = await make_community(owner)
        cid = c["id"]
        for p in (m1, m2, m3):
            await p.ok("POST", f"/v1/communities/{cid}/join")
        await add_member(owner, c, mod, "moderator")
        everyone = await m1.ok("GET", f"/v1/communities/{cid}/members?limit=100")
        assert [m["user_id"] for m in everyone["items"]] == [owner.id, m1.id, m2.id, m3.id, mod.id]
        assert everyone["items"][-1]["invited_by"] == owner.id
        seen = []
        cursor = ""
        while True:
            page = await m1.ok("GET", f"/v1/communities/{cid}/members?limit=2&cursor={cursor}")
            seen += [m["user_id"] for m in page["items"]]
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert seen == [m["user_id"] for m in everyone["items"]]
        mods = await m1.ok("GET", f"/v1/communities/{cid}/members?role=moderator")
        assert [m["user_id"] for m in mods["items"]] == [mod.id]
        owners = (await m1.ok("GET", f"/v1/communities/{cid}/members?role=owner"))["items"]
        assert [m["role"] for m in owners] == ["owner"]
        error_of(await m1.call("GET", f"/v1/communities/{cid}/members?role=boss"), 422, "invalid_request")
        error_of(await m1.call("GET", f"/v1/communities/{cid}/members?cursor=WyJ4IiwieSJd"), 422, "invalid_request")
        error_of(await m1.call("GET", "/v1/communities/nope/members"), 404, "not_found")


async def test_role_changes_follow_rank(server: RunningServer) -> None:
    async with people(server, "owner", "admin", "admin2", "mod", "member", "outsider") as crowd:
        owner, admin, admin2, mod, member, outsider = crowd
        c = await make_community(owner)
        cid = c["id"]
        await add_member(owner, c, admin, "admin")
        await add_member(owner, c, admin2, "admin")
        await add_member(owner, c, mod, "moderator")
        await add_member(owner, c, member)

        def path(p: Person) -> str:
            return f"/v1/communities/{cid}/members/{p.id}"

        changed = await admin.ok("PATCH", path(member), json={"role": "moderator"})
        assert changed["role"] == "moderator" and changed["user_id"] == member.id
        await admin.ok("PATCH", path(member), json={"role": "member"})
        error_of(await admin.call("PATCH", path(member), json={"role": "admin"}), 403, "forbidden")
        error_of(await admin.call("PATCH", path(admin2), json={"role": "member"}), 403, "forbidden")
        error_of(await admin.call("PATCH", path(owner), json={"role": "member"}), 403, "forbidden")
        error_of(await admin.call("PATCH", path(admin), json={"role": "member"}), 403, "forbidden")
        error_of(await mod.call("PATCH", path(member), json={"role": "moderator"}), 403, "forbidden")
        error_of(await owner.call("PATCH", path(owner), json={"role": "admin"}), 403, "forbidden")
        error_of(await owner.call("PATCH", path(member), json={"role": "owner"}), 422, "invalid_request")
        error_of(await owner.call("PATCH", path(member), json={"role": "king"}), 422, "invalid_request")
        error_of(await owner.call("PATCH", path(member), json={}), 422, "invalid_request")
        error_of(await owner.call("PATCH", path(outsider), json={"role": "member"}), 404, "not_found")
        assert (await owner.ok("PATCH", path(admin2), json={"role": "member"}))["role"] == "member"
        assert (await owner.ok("PATCH", path(member), json={"role": "admin"}))["role"] == "admin"


async def test_ownership_handover(server: RunningServer) -> None:
    async with people(server, "owner", "heir", "busy", "outsider") as (owner, heir, busy, outsider):
        c = await make_community(owner)
        cid = c["id"]
        await add_member(owner, c, heir)
        await add_member(owner, c, busy)
        for i in range(3):
            await make_community(busy, name=f"busy {i}")
        error_of(await owner.call("POST", f"/v1/communities/{cid}/transfer", json={"user_id": busy.id}),
                 409, "community_limit")
        error_of(
            await owner.call("POST", f"/v1/communities/{cid}/transfer", json={"user_id": outsider.id}), 404, "not_found"
        )
        error_of(
            await owner.call("POST", f"/v1/communities/{cid}/transfer", json={"user_id": owner.id}), 409, "conflict"
        )
        error_of(
            await owner.call("POST", f"/v1/communities/{cid}/transfer", json={"user_id": 7}), 422, "invalid_request"
        )
        error_of(
            await heir.call("POST", f"/v1/communities/{cid}/transfer", json={"user_id": heir.id}), 403, "forbidden"
        )
        after = await owner.ok("POST", f"/v1/communities/{cid}/transfer", json={"user_id": heir.id})
        assert after["owner_id"] == heir.id and after["my_role"] == "admin"
        assert (await heir.ok("GET", f"/v1/communities/{cid}"))["my_role"] == "owner"
        error_of(await owner.call("DELETE", f"/v1/communities/{cid}"), 403, "forbidden")
        await owner.ok("POST", f"/v1/communities/{cid}/leave")  # no longer the owner: may leave
        await heir.ok("DELETE", f"/v1/communities/{cid}", 204)


async def test_racing_handovers_leave_one_owner(server: RunningServer) -> None:
    async with people(server, "owner", *[f"heir{i}" for i in range(6)]) as crowd:
        owner, heirs = crowd[0], crowd[1:]
        c = await make_community(owner)
        for heir in heirs:
            await heir.ok("POST", f"/v1/communities/{c['id']}/join")
        results = await asyncio.gather(*(
            owner.call("POST", f"/v1/communities/{c['id']}/transfer", json={"user_id": h.id}) for h in heirs
        ))
        assert sorted(r.status_code for r in results) == [200] + [403] * 5
        owners = await owner.ok("GET", f"/v1/communities/{c['id']}/members?role=owner")
        assert len(owners["items"]) == 1
        assert (await owner.ok("GET", f"/v1/communities/{c['id']}"))["owner_id"] == owners["items"][0]["user_id"]


async def test_search_folds_case_beyond_ascii(server: RunningServer) -> None:
    async with people(server, "folk") as (folk,):
        tag = folk.id.replace("-", "")
        c = await make_community(folk, name=f"ÜBER Straße {tag}", description="Ελληνικά ΣΟΦΙΑ")
        for q in ("über", "STRASSE", "straße", "σοφια", "ελληνικά"):
            found = await folk.ok("GET", f"/v1/communities?q={q}+{tag}")
            assert [x["id"] for x in found["items"]] == [c["id"]], q
        await folk.ok("PATCH", f"/v1/communities/{c['id']}", json={"name": f"Renamed {tag}"})
        assert (await folk.ok("GET", f"/v1/communities?q=über+{tag}"))["items"] == []
        assert len((await folk.ok("GET", f"/v1/communities?q=renamed+{tag}"))["items"]) == 1


async def test_membership_changes_are_announced_as_events(server: RunningServer) -> None:
    heard: list[tuple[str, str | None]] = []

    async def on_change(payload: dict) -> None:
        heard.append((payload["user_id"], payload["role"]))

    server.services.events.on("membership.changed", on_change)
    async with people(server, "owner", "bob") as (owner, bob):
        c = await make_community(owner)
        cid = c["id"]
        await bob.ok("POST", f"/v1/communities/{cid}/join")
        await owner.ok("PATCH", f"/v1/communities/{cid}/members/{bob.id}", json={"role": "admin"})
        await owner.ok("POST", f"/v1/communities/{cid}/transfer", json={"user_id": bob.id})
        await owner.ok("POST", f"/v1/communities/{cid}/leave")
    assert heard == [(bob.id, "member"), (bob.id, "admin"), (owner.id, "admin"), (bob.id, "owner"), (owner.id, None)]
