"""Helpers of the moderation, reports and me tests: a community with one user per role."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from tests.support.servers import RunningServer, uid


@dataclasses.dataclass
class Cast:
    """A community and a signed-in client for each role (plus an outsider)."""

    server: RunningServer
    cid: str
    ids: dict[str, str]
    clients: dict[str, httpx.AsyncClient]

    def __getitem__(self, who: str) -> httpx.AsyncClient:
        return self.clients[who]

    async def act(self, who: str, **body: Any) -> httpx.Response:
        body.setdefault("reason", "a reason")
        return await self.clients[who].post(f"/v1/communities/{self.cid}/moderation", json=body)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


ROLES = ("owner", "admin", "moderator", "member", "member2", "outsider")


async def make_cast(server: RunningServer, *, read_policy: str = "public") -> Cast:
    ids = {who: uid(who[:3]) for who in ROLES}
    clients = {who: server.client(ids[who], name=who) for who in ROLES}
    r = await clients["owner"].post(
        "/v1/communities", json={"name": "Mod test", "join_policy": "open", "read_policy": read_policy}
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for who in ("admin", "moderator", "member", "member2"):
        r = await clients[who].post(f"/v1/communities/{cid}/join")
        assert r.status_code == 200, r.text
    for who in ("admin", "moderator"):
        r = await clients["owner"].patch(f"/v1/communities/{cid}/members/{ids[who]}", json={"role": who})
        assert r.status_code == 200, r.text
    await clients["outsider"].get("/v1/me")  # the user row exists, not a member
    return Cast(server=server, cid=cid, ids=ids, clients=clients)
