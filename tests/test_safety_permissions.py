"""Every cell of the platform matrix (docs/permissions.md, "Across communities"), against a real
server on SQLite and PostgreSQL, and the page says the same.

Columns: anyone signed in (no special right), a platform operator, and a suspended account.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from live.safety import operators
from tests.support.communities import Person
from tests.support.images import photo, upload
from tests.support.servers import RunningServer

ROLES = ("anyone signed in", "operator", "suspended")
Y = "yes"


@dataclasses.dataclass
class World:
    server: RunningServer
    who: dict[str, Person]
    subject: Person  # an ordinary account actions are done to
    suspension_id: str  # the suspended account's suspension
    crowd: list[Person]

    def person(self, name: str) -> Person:
        p = Person(self.server, name)
        self.crowd.append(p)
        return p


async def build(server: RunningServer) -> World:
    anyone, op, suspended, subject = (Person(server, n) for n in ("anyone", "op", "suspended", "subject"))
    for p in (anyone, op, suspended, subject):
        await p.ok("GET", "/v1/me")
    async with server.services.db.session() as session:
        await operators.grant(session, op.id)
    action = await op.ok("POST", f"/v1/admin/users/{suspended.id}/suspend", 201, json={"reason": "matrix"})
    who = dict(zip(ROLES, (anyone, op, suspended), strict=True))
    return World(server, who, subject, action["id"], [anyone, op, suspended, subject])


Act = Callable[[World, Person], Awaitable[httpx.Response]]


async def _report(w: World, p: Person) -> httpx.Response:
    target = w.person("reported")
    await target.ok("GET", "/v1/me")
    return await p.call("POST", "/v1/reports", json={"target": {"type": "user", "id": target.id}, "reason": "x"})


async def _resolve(w: World, p: Person) -> httpx.Response:
    reporter, target = w.person("reporter"), w.person("reported")
    await target.ok("GET", "/v1/me")
    report = await reporter.ok("POST", "/v1/reports", 201,
                               json={"target": {"type": "user", "id": target.id}, "reason": "x"})
    return await p.call("POST", f"/v1/admin/reports/{report['id']}/resolve", json={"resolution": "handled"})


async def _suspend(w: World, p: Person) -> httpx.Response:
    target = w.person("target")
    await target.ok("GET", "/v1/me")
    return await p.call("POST", f"/v1/admin/users/{target.id}/suspend", json={"reason": "x"})


async def _unsuspend(w: World, p: Person) -> httpx.Response:
    target = w.person("target")
    await target.ok("GET", "/v1/me")
    await w.who["operator"].ok("POST", f"/v1/admin/users/{target.id}/suspend", 201, json={"reason": "x"})
    return await p.call("POST", f"/v1/admin/users/{target.id}/unsuspend", json={})


async def _decide(w: World, p: Person) -> httpx.Response:
    target = w.person("target")
    await target.ok("GET", "/v1/me")
    action = await w.who["operator"].ok("POST", f"/v1/admin/users/{target.id}/suspend", 201, json={"reason": "x"})
    appeal = await target.ok("POST", f"/v1/moderation/{action['id']}/appeal", 201, json={"text": "please"})
    return await p.call("POST", f"/v1/admin/appeals/{appeal['id']}/decide",
                        json={"decision": "upheld", "response": "no"})


async def _appeal(w: World, p: Person) -> httpx.Response:
    return await p.call("POST", f"/v1/moderation/{w.suspension_id}/appeal", json={"text": "it was not me"})


async def _block(w: World, p: Person) -> httpx.Response:
    return await p.call("POST", "/v1/me/blocks", json={"user_id": w.subject.id})


async def _upload(w: World, p: Person) -> httpx.Response:
    return await upload(p.http, photo())


@dataclasses.dataclass(frozen=True)
class Action:
    doc: str
    act: Act
    expect: tuple[str, ...]


OPERATORS_ONLY_WRITE = ("forbidden", Y, "suspended")
OPERATORS_ONLY_READ = ("forbidden", Y, "forbidden")

MATRIX: tuple[Action, ...] = (
    Action("report an account", _report, (Y, Y, "suspended")),
    Action("list account reports", lambda w, p: p.call("GET", "/v1/admin/reports"), OPERATORS_ONLY_READ),
    Action("answer an account report", _resolve, OPERATORS_ONLY_WRITE),
    Action("suspend an account", _suspend, OPERATORS_ONLY_WRITE),
    Action("lift a suspension", _unsuspend, OPERATORS_ONLY_WRITE),
    Action("read the platform log", lambda w, p: p.call("GET", "/v1/admin/log"), OPERATORS_ONLY_READ),
    Action("decide an appeal against a suspension", _decide, OPERATORS_ONLY_WRITE),
    Action("appeal one's own suspension", _appeal, ("forbidden", "forbidden", Y)),
    Action("list the operators", lambda w, p: p.call("GET", "/v1/admin/operators"), OPERATORS_ONLY_READ),
    Action("see one's own account status", lambda w, p: p.call("GET", "/v1/me/account"), (Y, Y, Y)),
    Action("block someone", _block, (Y, Y, Y)),
    Action("list one's blocks", lambda w, p: p.call("GET", "/v1/me/blocks"), (Y, Y, Y)),
    Action("upload an image", _upload, (Y, Y, "suspended")),
    Action("export one's data", lambda w, p: p.call("GET", "/v1/me/export"), (Y, Y, Y)),
)


def outcome(resp: httpx.Response) -> str:
    if 200 <= resp.status_code < 300:
        return Y
    return str(resp.json()["error"]["code"])


async def test_every_cell_of_the_platform_matrix(server: RunningServer) -> None:
    world = await build(server)
    failures = []
    try:
        for action in MATRIX:
            for role, expected in zip(ROLES, action.expect, strict=True):
                got = outcome(await action.act(world, world.who[role]))
                if got != expected:
                    failures.append(f"{action.doc!r} as {role}: expected {expected}, got {got}")
    finally:
        for p in world.crowd:
            await p.http.aclose()
    assert not failures, "\n".join(failures)


def documented_matrix() -> dict[str, tuple[str, ...]]:
    text = (Path(__file__).parent.parent / "docs" / "permissions.md").read_text()
    rows: dict[str, tuple[str, ...]] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        if header is not None and not line.startswith("|"):
            break
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if cols[0] == "platform action":
            header = cols[1:]
            continue
        if header is not None:
            rows[cols[0]] = tuple(re.sub(r"[`*]", "", c).split(" ")[0] for c in cols[1:])
    assert header == list(ROLES), header
    return rows


def test_docs_match_the_tested_platform_matrix() -> None:
    documented: dict[str, Any] = documented_matrix()
    tested = {a.doc: a.expect for a in MATRIX}
    assert set(documented) == set(tested), set(documented) ^ set(tested)
    for doc, expect in tested.items():
        assert documented[doc] == expect, f"docs/permissions.md row {doc!r}: {documented[doc]} != {expect}"
