"""Helpers for community tests: people with signed-in clients, and a few common set-ups."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.support.servers import RunningServer, uid


class Person:
    """Someone using the API: an id, a name, and a signed-in HTTP client."""

    def __init__(self, server: RunningServer, name: str) -> None:
        self.id = uid(name)
        self.name = name
        self.http: httpx.AsyncClient = server.client(self.id, name)

    async def call(self, method: str, path: str, expect: int | None = None, **kw: Any) -> httpx.Response:
        resp = await self.http.request(method, path, **kw)
        if expect is not None:
            assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        resp = await self.call(method, path, expect, **kw)
        return resp.json() if resp.content else None


@contextlib.asynccontextmanager
async def people(server: RunningServer, *names: str) -> AsyncIterator[list[Person]]:
    crowd = [Person(server, n) for n in names]
    try:
        yield crowd
    finally:
        for p in crowd:
            await p.http.aclose()


def error_of(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the contract's error body and return its `error` object."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


async def make_community(owner: Person, **fields: Any) -> dict[str, Any]:
    body = {"name": f"{owner.name}'s place", "join_policy": "open", **fields}
    return await owner.ok("POST", "/v1/communities", 201, json=body)


async def add_member(owner: Person, community: dict[str, Any], who: Person, role: str = "member") -> None:
    """Make `who` a member of `community` (via an invite from `owner`) with `role`."""
    code = (await owner.ok("POST", f"/v1/communities/{community['id']}/invites", 201, json={}))["code"]
    await who.ok("POST", f"/v1/invites/{code}/accept")
    if role != "member":
        await owner.ok("PATCH", f"/v1/communities/{community['id']}/members/{who.id}", json={"role": role})


async def ban(server: RunningServer, community_id: str, user_id: str) -> None:
    """Ban someone the way moderation does: a ban in force, and out of the community."""
    from live.communities.service import remove_member
    from live.moderation import sanctions

    async with server.services.db.session() as session:
        await sanctions.impose(session, community_id, user_id, sanctions.BAN, None, "test-ban")
        await remove_member(session, community_id, user_id)


async def mute(server: RunningServer, community_id: str, user_id: str) -> None:
    from live.moderation import sanctions

    async with server.services.db.session() as session:
        await sanctions.impose(session, community_id, user_id, sanctions.MUTE, None, "test-mute")
