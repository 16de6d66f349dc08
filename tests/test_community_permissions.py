"""Every cell of the permission matrix, against a real server, and docs/permissions.md agrees.

Roles (columns): owner, admin, moderator, member, non-member (signed in, not a member) and banned
(a former member with a ban in force). A cell is "yes" (the action succeeds) or the error code.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import update

from live.client import LiveClient, RequestFailed
from live.communities import posts, service
from live.communities.models import Community, Group, Membership
from live.communities.schemas import CommunityCreate
from live.lives.models import LIVE, Live
from live.moderation import sanctions
from live.storage.base import utcnow
from live.storage.ids import new_id
from live.storage.models import User
from tests.support.communities import Person
from tests.support.images import photo, upload
from tests.support.servers import RunningServer

ROLES = ("owner", "admin", "moderator", "member", "non-member", "banned")
# The order roles try an action in: the strongest last, so an action that succeeds once and
# changes the world (deleting the community) does not hide the answers of weaker roles.
TRY_ORDER = ("banned", "non-member", "member", "moderator", "admin", "owner")


@dataclasses.dataclass
class World:
    server: RunningServer
    cid: str
    who: dict[str, Person]
    target: Person  # an ordinary member that actions are done to
    post_id: str
    group_id: str
    crowd: list[Person]
    live_id: str = ""
    image_id: str = ""

    def person(self, name: str) -> Person:
        p = Person(self.server, name)
        self.crowd.append(p)
        return p


async def build(server: RunningServer, join: str = "open", read: str = "public",
                member_list: str = "members") -> World:
    """A community with one person per role, a post, a group and a banned former member.

    Built straight through the services in one transaction (the HTTP paths that build it are
    tested elsewhere), so the hundreds of cells below stay quick.
    """
    crowd = [Person(server, n) for n in ("owner", "admin", "moderator", "member", "outsider", "banned", "target")]
    owner, admin, moderator, member, outsider, banned, target = crowd
    async with server.services.db.session() as session:
        session.add_all(User(id=p.id, name=p.name) for p in crowd)
        await session.flush()
        body = CommunityCreate(name="matrix", join_policy=join, read_policy=read)
        cid = (await service.create(session, owner.id, body, limit=10, invite_quota=5))["id"]
        await session.execute(update(Community).where(Community.id == cid).values(member_list=member_list))
        for person, role in ((admin, "admin"), (moderator, "moderator"), (member, "member"),
                             (target, "member"), (banned, "member")):
            await service.add_member(session, cid, person.id, invites_left=5, invited_by=owner.id)
            await session.execute(
                update(Membership).where(Membership.community_id == cid, Membership.user_id == person.id)
                .values(role=role)
            )
        post = await posts.create_post(session, cid, target.id, "a post")
        group = Group(id=new_id(), community_id=cid, name="crew", created_by=owner.id, created_at=utcnow())
        session.add(group)
        await sanctions.impose(session, cid, banned.id, sanctions.BAN, None, "matrix-ban")
        await service.remove_member(session, cid, banned.id)
    who = dict(zip(ROLES, (owner, admin, moderator, member, outsider, banned), strict=True))
    return World(server, cid, who, target, post["id"], group.id, crowd)


Act = Callable[[World, Person], Awaitable[httpx.Response | str]]


@dataclasses.dataclass(frozen=True)
class Action:
    doc: str  # the row's first cell in docs/permissions.md
    act: Act
    expect: tuple[str, ...]  # per ROLES
    world: tuple[str, ...] = ("open", "public")  # join policy, read policy[, member list]
    fresh: bool = False  # changes the world for the roles after it: build a world of its own



async def _approve(w: World, p: Person) -> httpx.Response:
    asker = w.person("asker")
    req = await asker.ok("POST", f"/v1/communities/{w.cid}/join-requests", 201, json={"message": "hi"})
    return await p.call("POST", f"/v1/join-requests/{req['id']}/approve")


async def _accept(w: World, p: Person) -> httpx.Response:
    code = (await w.who["owner"].ok("POST", f"/v1/communities/{w.cid}/invites", 201, json={}))["code"]
    return await p.call("POST", f"/v1/invites/{code}/accept")


async def _revoke_others(w: World, p: Person) -> httpx.Response:
    code = (await w.target.ok("POST", f"/v1/communities/{w.cid}/invites", 201, json={}))["code"]
    return await p.call("DELETE", f"/v1/invites/{code}")


async def _delete_own_post(w: World, p: Person) -> httpx.Response:
    # Only members can write a post; others try to delete a post they did not write (they have none).
    resp = await p.call("POST", f"/v1/communities/{w.cid}/posts", json={"text": "mine"})
    if resp.status_code != 201:
        return resp
    return await p.call("DELETE", f"/v1/posts/{resp.json()['id']}")


async def _remove_from_group(w: World, p: Person) -> httpx.Response:
    await w.target.call("POST", f"/v1/groups/{w.group_id}/join")  # (back) in the group: 200, or 409
    return await p.call("DELETE", f"/v1/groups/{w.group_id}/members/{w.target.id}")


async def _post_with_images(w: World, p: Person) -> httpx.Response:
    uploaded = await upload(p.http, photo())
    if uploaded.status_code != 201:
        return uploaded
    return await p.call("POST", f"/v1/communities/{w.cid}/posts", json={"media_ids": [uploaded.json()["id"]]})


async def _view_image(w: World, p: Person) -> httpx.Response:
    if not w.image_id:  # the target's post with a photo
        media = (await upload(w.target.http, photo())).json()["id"]
        await w.target.ok("POST", f"/v1/communities/{w.cid}/posts", 201, json={"text": "look", "media_ids": [media]})
        w.image_id = media
    return await p.call("GET", f"/v1/uploads/{w.image_id}")


async def _accept_from_blocked(w: World, p: Person) -> httpx.Response:
    inviter = w.person("inviter")  # a member with invitations of their own, whom `p` blocks
    joined = (await w.who["owner"].ok("POST", f"/v1/communities/{w.cid}/invites", 201, json={}))["code"]
    await inviter.ok("POST", f"/v1/invites/{joined}/accept")
    code = (await inviter.ok("POST", f"/v1/communities/{w.cid}/invites", 201, json={}))["code"]
    await p.ok("POST", "/v1/me/blocks", 201, json={"user_id": inviter.id})
    return await p.call("POST", f"/v1/invites/{code}/accept")


async def _react(w: World, p: Person) -> str:
    """A reaction in the community's live, over the WebSocket: "yes" or the error's code."""
    if not w.live_id:
        async with w.server.services.db.session() as session:
            live = Live(id=new_id(), community_id=w.cid, host_id=w.who["owner"].id, title="matrix",
                        status=LIVE, live_host=w.who["owner"].id, started_at=utcnow(), peak_viewers=0)
            session.add(live)
        w.live_id = live.id
    room = f"live:{w.live_id}"
    client = await LiveClient.connect(w.server.ws_url, w.server.token(p.id, p.name))
    try:
        await client.request("room.join", room=room)
        await client.request("reaction.send", room=room, kind="heart")
        return Y
    except RequestFailed as exc:
        return str(exc.reply["code"])
    finally:
        await client.close()


async def _demote_admin(w: World, p: Person) -> httpx.Response:
    return await p.call("PATCH", f"/v1/communities/{w.cid}/members/{w.who['admin'].id}", json={"role": "member"})


Y = "yes"
MEMBERS_WRITE = (Y, Y, Y, Y, "not_member", "banned")
READERS = (Y, Y, Y, Y, Y, Y)
MEMBERS_ONLY_READ = (Y, Y, Y, Y, "not_found", "not_found")
ADMINS = (Y, Y, "forbidden", "forbidden", "not_member", "not_member")
MODERATORS = (Y, Y, Y, "forbidden", "not_member", "not_member")
MEMBERS_LIST = (Y, Y, Y, Y, "not_member", "not_member")

MATRIX: tuple[Action, ...] = (
    Action("view a public community", lambda w, p: p.call("GET", f"/v1/communities/{w.cid}"), READERS),
    Action("view a members-only community", lambda w, p: p.call("GET", f"/v1/communities/{w.cid}"),
           MEMBERS_ONLY_READ, world=("open", "members")),
    Action("read posts and comments of a public community",
           lambda w, p: p.call("GET", f"/v1/posts/{w.post_id}/comments"), READERS),
    Action("read posts of a members-only community",
           lambda w, p: p.call("GET", f"/v1/communities/{w.cid}/posts"), MEMBERS_ONLY_READ,
           world=("open", "members")),
    Action("list members (member list: members, the default)",
           lambda w, p: p.call("GET", f"/v1/communities/{w.cid}/members"), MEMBERS_LIST),
    Action("list members (member list: public)",
           lambda w, p: p.call("GET", f"/v1/communities/{w.cid}/members"), READERS,
           world=("open", "public", "public")),
    Action("list members of a members-only community (member list: public)",
           lambda w, p: p.call("GET", f"/v1/communities/{w.cid}/members"), MEMBERS_ONLY_READ,
           world=("open", "members", "public")),
    Action("list groups", lambda w, p: p.call("GET", f"/v1/communities/{w.cid}/groups"), READERS),
    Action("list announcements", lambda w, p: p.call("GET", f"/v1/communities/{w.cid}/announcements"), READERS),
    Action("join an open community", lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/join"),
           ("conflict", "conflict", "conflict", "conflict", Y, "banned"), fresh=True),
    Action("join an invite-only community without an invite",
           lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/join"),
           ("conflict", "conflict", "conflict", "conflict", "invite_required", "banned"),
           world=("invite", "public")),
    Action("accept an invite", _accept, ("conflict", "conflict", "conflict", "conflict", Y, "banned"), fresh=True),
    Action("accept an invite from someone you blocked", _accept_from_blocked,
           ("blocked", "blocked", "blocked", "blocked", "blocked", "banned"), fresh=True),
    Action("ask to join an invite-only community",
           lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/join-requests", json={}),
           ("conflict", "conflict", "conflict", "conflict", Y, "banned"), world=("invite", "public")),
    Action("leave the community", lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/leave"),
           ("conflict", Y, Y, Y, "not_member", "not_member"), fresh=True),
    Action("create a post", lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/posts", json={"text": "x"}),
           MEMBERS_WRITE),
    Action("create a post with images", _post_with_images, MEMBERS_WRITE),
    Action("view a post's image in a public community", _view_image, READERS),
    Action("view a post's image in a members-only community", _view_image, MEMBERS_ONLY_READ,
           world=("open", "members")),
    Action("react in a live", _react, MEMBERS_WRITE),
    Action("like a post", lambda w, p: p.call("POST", f"/v1/posts/{w.post_id}/like"), MEMBERS_WRITE),
    Action("comment on a post", lambda w, p: p.call("POST", f"/v1/posts/{w.post_id}/comments", json={"text": "x"}),
           MEMBERS_WRITE),
    Action("share a post into this community",
           lambda w, p: p.call("POST", f"/v1/posts/{w.post_id}/share", json={}), MEMBERS_WRITE),
    Action("delete one's own post", _delete_own_post, MEMBERS_WRITE),
    Action("delete someone else's post", lambda w, p: p.call("DELETE", f"/v1/posts/{w.post_id}"),
           ("forbidden",) * 6),
    Action("create an invite", lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/invites", json={}),
           MEMBERS_WRITE),
    Action("revoke someone else's invite", _revoke_others,
           (Y, Y, Y, "not_found", "not_found", "not_found"), fresh=True),
    Action("list join requests", lambda w, p: p.call("GET", f"/v1/communities/{w.cid}/join-requests"),
           MODERATORS, world=("invite", "public")),
    Action("approve or reject a join request", _approve,
           (Y, Y, Y, "forbidden", "not_found", "not_found"), world=("invite", "public")),
    Action("edit the community's settings",
           lambda w, p: p.call("PATCH", f"/v1/communities/{w.cid}", json={"rules": "be kind"}), ADMINS),
    Action("delete the community", lambda w, p: p.call("DELETE", f"/v1/communities/{w.cid}"),
           (Y, "forbidden", "forbidden", "forbidden", "not_member", "not_member"), fresh=True),
    Action("make a member a moderator",
           lambda w, p: p.call("PATCH", f"/v1/communities/{w.cid}/members/{w.target.id}", json={"role": "moderator"}),
           ADMINS),
    Action("make a member an admin",
           lambda w, p: p.call("PATCH", f"/v1/communities/{w.cid}/members/{w.target.id}", json={"role": "admin"}),
           (Y, "forbidden", "forbidden", "forbidden", "not_member", "not_member"), fresh=True),
    Action("change an admin's role", _demote_admin,
           (Y, "forbidden", "forbidden", "forbidden", "not_member", "not_member"), fresh=True),
    Action("hand over ownership",
           lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/transfer", json={"user_id": w.target.id}),
           (Y, "forbidden", "forbidden", "forbidden", "not_member", "not_member"), fresh=True),
    Action("create a group",
           lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/groups", json={"name": "g"}), ADMINS),
    Action("rename or archive a group",
           lambda w, p: p.call("PATCH", f"/v1/groups/{w.group_id}", json={"name": "renamed"}), ADMINS),
    Action("join a group", lambda w, p: p.call("POST", f"/v1/groups/{w.group_id}/join"), MEMBERS_WRITE),
    Action("remove someone from a group", _remove_from_group, ADMINS),
    Action("send an announcement",
           lambda w, p: p.call("POST", f"/v1/communities/{w.cid}/announcements", json={"text": "hello"}), ADMINS),
)


def outcome(resp: httpx.Response | str) -> str:
    if isinstance(resp, str):
        return resp
    if 200 <= resp.status_code < 300:
        return Y
    return str(resp.json()["error"]["code"])


async def test_every_cell_of_the_permission_matrix(server: RunningServer) -> None:
    shared: dict[tuple[str, ...], World] = {}
    worlds: list[World] = []
    failures = []
    try:
        for action in MATRIX:
            if action.fresh or action.world not in shared:
                world = await build(server, *action.world)
                worlds.append(world)
                if not action.fresh:
                    shared[action.world] = world
            else:
                world = shared[action.world]
            expected = dict(zip(ROLES, action.expect, strict=True))
            for role in TRY_ORDER:
                got = outcome(await action.act(world, world.who[role]))
                if got != expected[role]:
                    failures.append(f"{action.doc!r} as {role}: expected {expected[role]}, got {got}")
    finally:
        for world in worlds:
            for p in world.crowd:
                await p.http.aclose()
    assert not failures, "\n".join(failures)


def documented_matrix() -> dict[str, tuple[str, ...]]:
    text = (Path(__file__).parent.parent / "docs" / "permissions.md").read_text()
    rows: dict[str, tuple[str, ...]] = {}
    header = None
    for line in text.splitlines():
        if header is not None and not line.startswith("|"):
            break  # the matrix ends (the page's later tables are about other things)
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if cols[0] == "action":
            header = cols[1:]
            continue
        if header is None:
            continue
        rows[cols[0]] = tuple(re.sub(r"[`*]", "", c).split(" ")[0] for c in cols[1:])
    assert header == list(ROLES), header
    return rows


def test_docs_permissions_match_the_tested_matrix() -> None:
    documented = documented_matrix()
    tested = {a.doc: a.expect for a in MATRIX}
    assert set(documented) == set(tested), set(documented) ^ set(tested)
    for doc, expect in tested.items():
        assert documented[doc] == expect, f"docs/permissions.md row {doc!r}: {documented[doc]} != {expect}"


