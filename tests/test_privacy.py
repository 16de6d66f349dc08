"""Privacy of export and erasure: the export names staff by role only, erasure covers every free
text the user wrote (live titles and chat deletion reasons too), and on SQLite the erased text is
gone from the database file and its write-ahead log, not just from query results."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from live.client import LiveClient
from live.me.erase import TOMBSTONE_ID, scrub_disk
from live.storage import migrate
from live.storage.all_models import metadata
from tests.support.communities import add_member, make_community, people
from tests.support.servers import RunningServer, run_server, settings
from tests.test_moderation_support import make_cast


async def test_export_names_staff_by_role_only(server: RunningServer) -> None:
    cast = await make_cast(server)
    try:
        cid = cast.cid
        post = (await cast["member"].post(f"/v1/communities/{cid}/posts", json={"text": "x"})).json()
        r = await cast.act("moderator", action="mute", user_id=cast.ids["member"], duration_seconds=60)
        assert r.status_code == 201, r.text
        mute = r.json()
        r = await cast["member"].post(f"/v1/moderation/{mute['id']}/appeal", json={"text": "please"})
        assert r.status_code == 201, r.text
        r = await cast["admin"].post(f"/v1/appeals/{r.json()['id']}/decide",
                                     json={"decision": "upheld", "response": "no"})
        assert r.status_code == 200, r.text
        r = await cast["member"].post(f"/v1/communities/{cid}/reports",
                                      json={"target": {"type": "post", "id": post["id"]}, "reason": "mine"})
        report = r.json()
        r = await cast["moderator"].post(f"/v1/reports/{report['id']}/resolve", json={"resolution": "ok"})
        assert r.status_code == 200, r.text

        tables = (await cast["member"].get("/v1/me/export")).json()["tables"]
        [action] = [a for a in tables["moderation_actions"] if a["id"] == mute["id"]]
        assert "moderator_id" not in action and action["moderator_role"] == "moderator"
        [appeal] = tables["appeals"]
        assert "decided_by" not in appeal and appeal["status"] == "upheld"
        [filed] = tables["reports"]
        assert "resolved_by" not in filed and filed["resolution"] == "ok"
        staff = {cast.ids[w] for w in ("owner", "admin", "moderator")}
        assert not any(v in staff for rows in tables.values() for row in rows for v in row.values()), \
            "no staff member's id appears anywhere in the export"

        # The moderator's own export keeps their own id on what they did.
        theirs = (await cast["moderator"].get("/v1/me/export")).json()["tables"]
        [done] = [a for a in theirs["moderation_actions"] if a["id"] == mute["id"]]
        assert done["moderator_id"] == cast.ids["moderator"]
    finally:
        await cast.close()


async def test_erasure_blanks_live_titles_and_chat_reasons(server: RunningServer) -> None:
    title = "my kitchen at " + secrets.token_hex(4)
    async with people(server, "owner", "host") as (owner, host):
        community = await make_community(owner)
        await add_member(owner, community, host)
        live = await host.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": title})
        client = await LiveClient.connect(server.url, server.token(host.id, host.name))
        try:
            await client.request("room.join", room=live["room"])
            sent = await client.request("chat.send", room=live["room"], text="oops", nonce="n1")
            await client.request("chat.delete", room=live["room"], seq=sent["seq"], reason="typo in my address")
        finally:
            await client.close()
        await host.ok("POST", f"/v1/live/{live['id']}/end")
        await host.call("DELETE", "/v1/me", 204)

        ended = await owner.ok("GET", f"/v1/live/{live['id']}")
        assert ended["title"] == "" and ended["host"]["id"] == TOMBSTONE_ID
        messages = metadata.tables["chat_messages"]
        async with server.services.db.session() as session:
            row = (await session.execute(
                select(messages).where(messages.c.room == live["room"], messages.c.seq == sent["seq"])
            )).one()
        assert row.text == "" and row.delete_reason is None and row.user_id == TOMBSTONE_ID


async def test_erased_text_is_gone_from_the_sqlite_files(tmp_path: Path) -> None:
    """Not only unreadable through the API: absent from the database file and the WAL."""
    path = tmp_path / "live.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate.upgrade(url)
    secret = {k: f"{k}-{secrets.token_hex(6)}" for k in ("name", "post", "comment", "title", "chat", "appeal")}
    async with run_server(settings(database_url=url)) as server, people(server, "owner") as (owner,):
        # As most SQLite builds (Debian's enables SECURE_DELETE at compile time; Python's own and
        # macOS's do not): freed bytes stay in the file unless the erasure asks otherwise.
        # At every checkout, not at connect with the pool disposed: disposing the engine of a
        # running server raced its background writers and once left a request hanging.
        engine = server.services.db.engine
        event.listen(engine.sync_engine, "checkout", lambda conn, *_: conn.execute("PRAGMA secure_delete=OFF"))
        community = await make_community(owner)
        cid = community["id"]
        async with server.client(f"leaver-{secrets.token_hex(3)}", secret["name"]) as leaver:
            await _ok(await leaver.post(f"/v1/communities/{cid}/join"))
            post = await _ok(await leaver.post(f"/v1/communities/{cid}/posts", json={"text": secret["post"] * 40}))
            await _ok(await leaver.post(f"/v1/posts/{post['id']}/comments", json={"text": secret["comment"]}))
            live = await _ok(await leaver.post(f"/v1/communities/{cid}/live", json={"title": secret["title"]}))
            me = await _ok(await leaver.get("/v1/me"))
            client = await LiveClient.connect(server.url, server.token(me["id"], secret["name"]))
            try:
                await client.request("room.join", room=live["room"])
                await client.request("chat.send", room=live["room"], text=secret["chat"], nonce="n")
            finally:
                await client.close()
            await _ok(await leaver.post(f"/v1/live/{live['id']}/end"))
            action = await owner.ok("POST", f"/v1/communities/{cid}/moderation", 201, json={
                "action": "mute", "user_id": me["id"], "duration_seconds": 60, "reason": "r"})
            await _ok(await leaver.post(f"/v1/moderation/{action['id']}/appeal", json={"text": secret["appeal"]}))
            # As SQLite's own checkpoints do from time to time: the text is in the main file too.
            assert await scrub_disk(server.services.db)
            assert _found(path, secret) == set(secret), "the test's text reached the file in the first place"
            assert (await leaver.delete("/v1/me")).status_code == 204
        assert _found(path, secret) == set()


def _found(path: Path, secret: dict[str, str]) -> set[str]:
    """Which of the secrets appear in the database file or its write-ahead log."""
    data = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    return {k for k, v in secret.items() if v.encode() in data}


async def _ok(resp: Any) -> Any:
    assert resp.status_code in (200, 201), resp.text
    return resp.json()
