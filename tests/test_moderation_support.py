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


def has_chat() -> bool:
    from live.storage.all_models import metadata

    return "chat_messages" in metadata.tables


async def store_message(server: RunningServer, room: str, user_id: str, text: str = "hello") -> str:
    """A stored chat message in `room` by `user_id` (its id); a made-up id in a build without chat."""
    from sqlalchemy import select

    from live.storage.all_models import metadata
    from live.storage.ids import new_id

    message_id = new_id()
    if not has_chat():
        return message_id
    rooms, messages = metadata.tables["chat_rooms"], metadata.tables["chat_messages"]
    async with server.services.db.session() as session:
        if (await session.execute(select(rooms.c.room).where(rooms.c.room == room))).first() is None:
            await session.execute(rooms.insert().values(room=room, epoch="e1", last_seq=0))
        seq = (await session.execute(select(rooms.c.last_seq).where(rooms.c.room == room))).scalar_one() + 1
        await session.execute(rooms.update().where(rooms.c.room == room).values(last_seq=seq))
        await session.execute(
            messages.insert().values(
                room=room, seq=seq, id=message_id, user_id=user_id, user_name=user_id, text=text, nonce=new_id()
            )
        )
    return message_id


def record_events(server: RunningServer, name: str) -> list[dict[str, Any]]:
    """Every payload of the domain event `name` emitted on this server from now on."""
    seen: list[dict[str, Any]] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(payload)

    server.services.events.on(name, handler)
    return seen
