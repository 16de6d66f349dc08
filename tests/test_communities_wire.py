"""What the community endpoints send matches the response models /openapi.json publishes.

Every endpoint with a declared response model is called for real, and its body is validated
against that model with unknown fields forbidden (`live.communities.wire`).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from live.communities import routes, routes_social
from live.http.api import Endpoint
from tests.support.communities import Person, add_member, people
from tests.support.servers import RunningServer

ENDPOINTS = [ep for api in (routes.api, routes_social.api) for ep in api.endpoints if ep.response is not None]


def _endpoint(method: str, path: str) -> Endpoint:
    for ep in ENDPOINTS:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", ep.path) + "$"
        if ep.method == method and re.match(pattern, path):
            return ep
    raise AssertionError(f"no endpoint with a response model for {method} {path}")


class Checker:
    def __init__(self) -> None:
        self.covered: set[tuple[str, str]] = set()

    async def __call__(self, who: Person, method: str, path: str, body: Any = None) -> dict[str, Any]:
        resp: httpx.Response = await who.http.request(method, path, json=body)
        assert resp.status_code < 300, f"{method} {path}: {resp.text}"
        ep = _endpoint(method, path.split("?")[0])
        assert resp.status_code == ep.status
        assert ep.response is not None
        ep.response.model_validate(resp.json())
        self.covered.add((ep.method, ep.path))
        return resp.json()


async def test_responses_match_the_published_models(server: RunningServer) -> None:
    call = Checker()
    async with people(server, "owner", "member", "guest", "asker") as (owner, member, guest, asker):
        c = await call(owner, "POST", "/v1/communities", {"name": "wire", "join_policy": "open", "topics": ["t"]})
        cid = c["id"]
        other = await call(owner, "POST", "/v1/communities", {"name": "other", "join_policy": "invite"})
        await call(owner, "GET", "/v1/communities?q=wire")
        await call(owner, "GET", f"/v1/communities/{cid}")
        await call(owner, "PATCH", f"/v1/communities/{cid}", {"rules": "r"})
        await call(member, "POST", f"/v1/communities/{cid}/join")
        await call(owner, "GET", f"/v1/communities/{cid}/members")
        await call(owner, "PATCH", f"/v1/communities/{cid}/members/{member.id}", {"role": "moderator"})
        await call(owner, "PATCH", f"/v1/communities/{cid}/members/{member.id}", {"role": "member"})
        invite = await call(member, "POST", f"/v1/communities/{cid}/invites", {})
        await call(member, "GET", f"/v1/communities/{cid}/invites")
        await call(member, "DELETE", f"/v1/invites/{invite['code']}")
        invite = await call(member, "POST", f"/v1/communities/{cid}/invites", {})
        await call(guest, "POST", f"/v1/invites/{invite['code']}/accept")
        req = await call(asker, "POST", f"/v1/communities/{other['id']}/join-requests", {"message": "hi"})
        await call(owner, "GET", f"/v1/communities/{other['id']}/join-requests")
        await call(asker, "GET", f"/v1/join-requests/{req['id']}")
        await call(owner, "POST", f"/v1/join-requests/{req['id']}/reject")
        req = await call(asker, "POST", f"/v1/communities/{other['id']}/join-requests", {})
        await call(owner, "POST", f"/v1/join-requests/{req['id']}/approve")
        group = await call(owner, "POST", f"/v1/communities/{cid}/groups", {"name": "g"})
        await call(owner, "GET", f"/v1/communities/{cid}/groups")
        await call(owner, "GET", f"/v1/groups/{group['id']}")
        await call(owner, "PATCH", f"/v1/groups/{group['id']}", {"name": "h"})
        await call(member, "POST", f"/v1/groups/{group['id']}/join")
        await call(member, "POST", f"/v1/groups/{group['id']}/leave")
        await call(member, "POST", f"/v1/groups/{group['id']}/join")
        await call(owner, "DELETE", f"/v1/groups/{group['id']}/members/{member.id}")
        await call(owner, "POST", f"/v1/communities/{cid}/announcements", {"text": "a", "group_ids": [group["id"]]})
        await call(owner, "GET", f"/v1/communities/{cid}/announcements")
        post = await call(member, "POST", f"/v1/communities/{cid}/posts", {"text": "p"})
        await call(member, "GET", f"/v1/communities/{cid}/posts")
        await call(member, "GET", f"/v1/posts/{post['id']}")
        await call(member, "POST", f"/v1/posts/{post['id']}/like")
        await call(member, "DELETE", f"/v1/posts/{post['id']}/like")
        await call(member, "POST", f"/v1/posts/{post['id']}/comments", {"text": "c"})
        await call(member, "GET", f"/v1/posts/{post['id']}/comments")
        shared = await call(member, "POST", f"/v1/posts/{post['id']}/share", {})
        assert shared["original"] is not None
        await call(owner, "POST", f"/v1/communities/{cid}/transfer", {"user_id": member.id})
        await add_member(member, c, asker)
        await call(asker, "POST", f"/v1/communities/{cid}/leave")
    missing = {(ep.method, ep.path) for ep in ENDPOINTS} - call.covered
    assert not missing, missing
