"""Who may do what in moderation: every cell of docs/moderation.md's table, against a real server.

Columns: owner, admin, moderator, member, non-member (signed in, not in the community). A cell is
"yes" (the request succeeds) or the error code the caller gets. The test reads the table from
the doc, so the doc cannot drift from what the server does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from live.communities.models import Community, Membership
from live.storage.models import User
from tests.support.servers import uid
from tests.test_moderation_support import Cast, make_cast

DOC = Path(__file__).resolve().parent.parent / "docs" / "moderation.md"
COLUMNS = ("owner", "admin", "moderator", "member", "non-member")
CLIENT = {"owner": "owner", "admin": "admin", "moderator": "moderator", "member": "member",
          "non-member": "outsider"}


async def _person(cast: Cast, role: str | None) -> str:
    """A fresh user: a member with `role`, or not a member when role is None."""
    user = uid("t")
    async with cast.server.client(user, name=user) as client:
        await client.get("/v1/me")
        if role is not None:
            assert (await client.post(f"/v1/communities/{cast.cid}/join")).status_code == 200
    if role not in (None, "member"):
        r = await cast["owner"].patch(f"/v1/communities/{cast.cid}/members/{user}", json={"role": role})
        assert r.status_code == 200, r.text
    return user


def _timeout(target_role: str | None) -> Callable[[Cast, httpx.AsyncClient], Awaitable[httpx.Response]]:
    async def run(cast: Cast, client: httpx.AsyncClient) -> httpx.Response:
        target = cast.ids["owner"] if target_role == "owner" else await _person(cast, target_role)
        return await client.post(f"/v1/communities/{cast.cid}/moderation",
                                 json={"action": "timeout", "user_id": target, "duration_seconds": 60, "reason": "r"})
    return run


async def _report_post(cast: Cast, client: httpx.AsyncClient) -> httpx.Response:
    post = (await cast["member2"].post(f"/v1/communities/{cast.cid}/posts", json={"text": uid("p")})).json()
    return await client.post(f"/v1/communities/{cast.cid}/reports",
                             json={"target": {"type": "post", "id": post["id"]}, "reason": "r"})


async def _resolve(cast: Cast, client: httpx.AsyncClient) -> httpx.Response:
    report = (await cast["member2"].post(f"/v1/communities/{cast.cid}/reports",
                                         json={"target": {"type": "user", "id": await _person(cast, None)},
                                               "reason": "r"})).json()
    return await client.post(f"/v1/reports/{report['id']}/resolve", json={"resolution": "done"})


async def _decide(cast: Cast, client: httpx.AsyncClient) -> httpx.Response:
    target = await _person(cast, "member")
    action = (await cast.act("moderator", action="timeout", user_id=target, duration_seconds=60)).json()
    async with cast.server.client(target) as person:
        appeal = (await person.post(f"/v1/moderation/{action['id']}/appeal", json={"text": "please"})).json()
    return await client.post(f"/v1/appeals/{appeal['id']}/decide", json={"decision": "upheld", "response": "no"})


async def _members_only_log(cast: Cast, client: httpx.AsyncClient) -> httpx.Response:
    async with cast.server.services.db.session() as session:
        await session.execute(update(Community).where(Community.id == cast.cid).values(read_policy="members"))
    try:
        return await client.get(f"/v1/communities/{cast.cid}/moderation/log")
    finally:
        async with cast.server.services.db.session() as session:
            await session.execute(update(Community).where(Community.id == cast.cid).values(read_policy="public"))


def _get(path: str) -> Callable[[Cast, httpx.AsyncClient], Awaitable[httpx.Response]]:
    async def run(cast: Cast, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(path.format(cid=cast.cid))
    return run


async def _slow_mode(cast: Cast, client: httpx.AsyncClient) -> httpx.Response:
    return await client.patch(f"/v1/communities/{cast.cid}/moderation/chat", json={"slow_mode_seconds": 10})


ACTIONS: dict[str, Callable[[Cast, httpx.AsyncClient], Awaitable[httpx.Response]]] = {
    "mute, time out, ban or kick a member": _timeout("member"),
    "... a moderator": _timeout("moderator"),
    "... an admin": _timeout("admin"),
    "... the owner": _timeout("owner"),
    "read the log of a public community": _get("/v1/communities/{cid}/moderation/log"),
    "read the log of a members-only community": _members_only_log,
    "list the sanctions in force": _get("/v1/communities/{cid}/moderation/sanctions"),
    "set slow mode or the keyword filter": _slow_mode,
    "report something": _report_post,
    "list reports": _get("/v1/communities/{cid}/reports"),
    "resolve a report": _resolve,
    "list appeals": _get("/v1/communities/{cid}/appeals"),
    "decide an appeal": _decide,
    "read insights (over the member threshold)": _get("/v1/communities/{cid}/insights"),
}


def _table() -> dict[str, dict[str, str]]:
    text = DOC.read_text()
    section = text.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, dict[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(COLUMNS) + 1 or cells[0] in ("action", "") or set(cells[0]) <= {"-"}:
            continue
        rows[cells[0]] = dict(zip(COLUMNS, cells[1:], strict=True))
    return rows


def test_the_doc_has_a_row_for_every_action() -> None:
    assert list(_table()) == list(ACTIONS)


async def test_every_cell(server: Any) -> None:
    cast = await make_cast(server)
    try:
        async with server.services.db.session() as session:  # over the insights threshold
            crowd = [uid("crowd") for _ in range(50)]
            session.add_all(User(id=u, name=u) for u in crowd)
            await session.flush()
            session.add_all(Membership(community_id=cast.cid, user_id=u, role="member") for u in crowd)
            await session.execute(
                update(Community).where(Community.id == cast.cid).values(member_count=Community.member_count + 50)
            )
        wrong = []

        async def cell(name: str, column: str, expected: str) -> None:
            r = await ACTIONS[name](cast, cast[CLIENT[column]])
            got = "yes" if r.status_code < 300 else r.json()["error"]["code"]
            if got != expected:
                wrong.append(f"{name} / {column}: doc says {expected}, server says {got} ({r.text[:120]})")

        for name, expected in _table().items():
            cells = [cell(name, column, expected[column]) for column in COLUMNS]
            if ACTIONS[name] is _members_only_log:
                for one in cells:  # it flips the community's read policy: one at a time
                    await one
            else:
                await asyncio.gather(*cells)
        assert not wrong, "\n".join(wrong)
    finally:
        await cast.close()
