"""Property tests of invitation quota accounting: grants, spends and gives-back.

The pure rules (`live.communities.quota`) are checked on many random sequences; the server is
checked on fewer, each a real member creating, using and revoking invites through the API while
a model predicts `invites_left` after every step.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings, strategies as st

from live.communities.access import Role
from live.communities.quota import Quota, QuotaExhausted, spends_quota
from tests.support.communities import people
from tests.support.servers import run_server, settings as server_settings

OPS = st.lists(st.sampled_from(["spend", "give_back"]), max_size=40)


@given(grant=st.integers(min_value=0, max_value=10), ops=OPS)
@settings(max_examples=200, deadline=None)
def test_quota_never_negative_nor_above_the_grant(grant: int, ops: list[str]) -> None:
    quota = Quota.granted(grant)
    outstanding = 0  # invites spent and not yet given back
    for op in ops:
        if op == "spend":
            try:
                quota = quota.spend()
                outstanding += 1
            except QuotaExhausted:
                assert quota.left == 0
        elif outstanding:
            quota = quota.give_back()
            outstanding -= 1
        assert 0 <= quota.left <= grant
        assert quota.left + outstanding == grant


def test_only_members_spend() -> None:
    assert spends_quota(Role.MEMBER)
    assert not any(spends_quota(r) for r in (Role.MODERATOR, Role.ADMIN, Role.OWNER))


STEPS = st.lists(st.sampled_from(["invite", "revoke", "use", "revoke_used"]), min_size=1, max_size=10)


@given(steps=STEPS)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_server_quota_matches_the_model(db_url: str, steps: list[str]) -> None:
    asyncio.run(_run_steps(db_url, steps))


async def _run_steps(db_url: str, steps: list[str]) -> None:
    grant = 3
    async with run_server(server_settings(database_url=db_url, invite_quota=grant)) as server:
        async with people(server, "owner", "member", "guest") as (owner, member, guest):
            c = await owner.ok("POST", "/v1/communities", 201, json={"name": "q", "join_policy": "invite"})
            cid = c["id"]
            code = (await owner.ok("POST", f"/v1/communities/{cid}/invites", 201, json={}))["code"]
            assert (await member.ok("POST", f"/v1/invites/{code}/accept"))["invites_left"] == grant
            model = Quota.granted(grant)
            unused: list[str] = []
            used: list[str] = []
            for step in steps:
                if step == "invite":
                    resp = await member.call("POST", f"/v1/communities/{cid}/invites", json={})
                    if model.left == 0:
                        assert resp.status_code == 403
                        assert resp.json()["error"]["code"] == "invite_quota_exhausted"
                    else:
                        model = model.spend()
                        assert resp.status_code == 201
                        assert resp.json()["invites_left"] == model.left
                        unused.append(resp.json()["code"])
                elif step == "revoke" and unused:
                    model = model.give_back()
                    out = await member.ok("DELETE", f"/v1/invites/{unused.pop()}")
                    assert out["invites_left"] == model.left
                elif step == "use" and unused:
                    # The guest joins with it, then leaves so the next "use" can join again.
                    await guest.ok("POST", f"/v1/invites/{unused[0]}/accept")
                    await guest.ok("POST", f"/v1/communities/{cid}/leave")
                    used.append(unused.pop(0))
                elif step == "revoke_used" and used:
                    resp = await member.call("DELETE", f"/v1/invites/{used[-1]}")
                    assert resp.status_code == 410
                listed = await member.ok("GET", f"/v1/communities/{cid}/members?limit=100")
                left = {m["user_id"]: m["invites_left"] for m in listed["items"]}[member.id]
                assert left == model.left and 0 <= left <= grant
