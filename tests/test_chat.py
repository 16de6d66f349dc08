"""ChatService on SQLite and PostgreSQL, with the in-process bus and with Redis (stream + publish):
seq order under concurrency, nonce de-duplication, all-or-nothing recovery, deletion, the rules."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from live.auth.tokens import Principal
from live.bus.base import Message
from live.chat import store as chat_store
from live.chat.models import ChatMessage
from live.chat.rules import RateLimiter
from live.chat.service import ChatService
from live.errors import ApiError, ErrorCode
from live.moderation import sanctions
from live.rooms.channels import decode_event, room_channel
from live.storage.base import utcnow
from tests.support.clock import ClockShift
from tests.support.communities import Person, add_member, make_community, people
from tests.support.servers import RunningServer, run_server


@pytest.fixture(params=["memory", "redis"])
async def chat_server(request: pytest.FixtureRequest, make_settings: Any) -> AsyncIterator[RunningServer]:
    """A real server on this test's database, with the in-process bus, then with Redis."""
    overrides: dict[str, Any] = {"chat_burst": 1000}
    if request.param == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
        overrides["redis_prefix"] = request.getfixturevalue("redis_prefix")
    async with run_server(make_settings(**overrides)) as running:
        yield running


def me(person: Person) -> Principal:
    return Principal(person.id, person.name)


class Listener:
    """Everything published on some rooms' channels, decoded, in arrival order."""

    def __init__(self, bus: Any) -> None:
        self.sub = bus.subscription()
        self.events: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, *rooms: str) -> Listener:
        await self.sub.subscribe(*(room_channel(r) for r in rooms))
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async for event in self.sub:
            if isinstance(event, Message):
                decoded = decode_event(event.data)
                self.events.extend(decoded if isinstance(decoded, list) else [decoded])

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(self.events) < n and loop.time() < end:
            await asyncio.sleep(0.01)
        return self.events

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.sub.close()


@dataclasses.dataclass
class World:
    server: RunningServer
    cid: str
    room: str
    lid: str
    cast: dict[str, Person]

    @property
    def chat(self) -> ChatService:
        return self.server.services.chat

    def p(self, name: str) -> Principal:
        return me(self.cast[name])


async def make_world(server: RunningServer, cast: list[Person], **community: Any) -> World:
    """`cast[0]` owns a community and is live; the rest are members, with roles from their names."""
    owner = cast[0]
    c = await make_community(owner, **community)
    for person in cast[1:]:
        role = person.name if person.name in ("admin", "moderator") else "member"
        if person.name != "outsider":
            await add_member(owner, c, person, role=role)
    live = await owner.ok("POST", f"/v1/communities/{c['id']}/live", 201, json={"title": "t"})
    return World(server, c["id"], live["room"], live["id"], {p.name: p for p in cast})


async def test_seq_strictly_increasing_under_concurrent_appends(chat_server: RunningServer) -> None:
    async with people(chat_server, "owner", "m1", "m2", "m3", "m4") as cast:
        w = await make_world(chat_server, cast)
        listener = await Listener(chat_server.services.bus).start(w.room)
        try:
            async def sender(person: Person) -> list[dict[str, Any]]:
                return [await w.chat.append(w.room, me(person), f"{person.name}-{i}", f"{person.name}-{i}")
                        for i in range(10)]

            results = await asyncio.gather(*(sender(p) for p in cast))
            seqs = sorted(e["seq"] for r in results for e in r)
            assert seqs == list(range(1, 51))
            for r in results:  # each sender's own messages in its order
                assert [e["seq"] for e in r] == sorted(e["seq"] for e in r)
            events = await listener.wait_for(50)
            assert [e["seq"] for e in events] == list(range(1, 51))  # publish order == seq order
            assert {e["epoch"] for e in events} == {results[0][0]["epoch"]}
            state = await w.chat.join_state(w.room, None)
            assert state["seq"] == 50 and "recovered" not in state
            assert [e["seq"] for e in state["history"]] == list(range(1, 51))
            assert state["history"] == events
            async with chat_server.services.db.session() as session:
                n = (await session.execute(select(func.count()).where(ChatMessage.room == w.room))).scalar_one()
            assert n == 50
        finally:
            await listener.close()


async def test_event_shape_and_text_kept_exactly(chat_server: RunningServer) -> None:
    async with people(chat_server, "owner") as cast:
        w = await make_world(chat_server, cast)
        text = "he\u0301llo 👩‍👩‍👧‍👦 مرحبا \u200f RLM  spaced  \n"
        event = await w.chat.append(w.room, w.p("owner"), text, "n1")
        assert event == {
            "type": "chat.message", "room": w.room, "epoch": event["epoch"], "seq": 1, "id": event["id"],
            "user": {"id": w.cast["owner"].id, "name": "owner"}, "text": text, "ts": event["ts"],
        }
        assert len(event["id"]) == 26 and event["ts"].endswith("Z") and len(event["epoch"]) == 8
        assert (await w.chat.page(w.room, 0, 10)) == [event]


async def test_repeated_nonce_is_stored_once(chat_server: RunningServer) -> None:
    async with people(chat_server, "owner", "m1") as cast:
        w = await make_world(chat_server, cast)
        first = await w.chat.append(w.room, w.p("owner"), "hello", "same")
        again = await w.chat.append(w.room, w.p("owner"), "hello (edited retry)", "same")
        assert again == first
        # Another user may use the same nonce: nonces are per user.
        other = await w.chat.append(w.room, w.p("m1"), "hi", "same")
        assert other["seq"] == 2
        # Racing retries of one nonce: one message.
        racing = await asyncio.gather(*(w.chat.append(w.room, w.p("m1"), "x", "race") for _ in range(8)))
        assert len({e["seq"] for e in racing}) == 1 and racing[0]["seq"] == 3
        state = await w.chat.join_state(w.room, None)
        assert state["seq"] == 3 and len(state["history"]) == 3
        for nonce in ("", "n" * 65, None, 5):
            with pytest.raises(ApiError) as err:
                await w.chat.append(w.room, w.p("owner"), "x", nonce)  # type: ignore[arg-type]
            assert err.value.code is ErrorCode.INVALID_REQUEST


async def test_recovery_is_all_or_nothing(chat_server: RunningServer) -> None:
    async with people(chat_server, "owner") as cast:
        w = await make_world(chat_server, cast)
        owner = w.p("owner")
        empty = await w.chat.join_state(w.room, {"epoch": "whatever", "seq": 0})
        epoch = empty["epoch"]
        assert empty == {"epoch": epoch, "seq": 0, "history": [], "recovered": False}
        assert (await w.chat.join_state(w.room, {"epoch": epoch, "seq": 0}))["recovered"] is True
        sent = [await w.chat.append(w.room, owner, f"m{i}", f"n{i}") for i in range(1, 71)]
        assert [e["seq"] for e in sent] == list(range(1, 71))

        # In range: everything after `seq`, even more than the 50 of a plain join.
        got = await w.chat.join_state(w.room, {"epoch": epoch, "seq": 5})
        assert got["recovered"] is True and got["seq"] == 70 and got["epoch"] == epoch
        assert got["history"] == sent[5:]
        up_to_date = await w.chat.join_state(w.room, {"epoch": epoch, "seq": 70})
        assert up_to_date == {"epoch": epoch, "seq": 70, "history": [], "recovered": True}

        # Not recoverable: the latest 50, recovered false; never a partial set.
        latest = sent[20:]
        for since in (
            {"epoch": "other", "seq": 5},  # history was lost since
            {"epoch": epoch, "seq": 71},  # from the future
            {"epoch": epoch, "seq": -1},
            {"epoch": epoch, "seq": "5"},
            {"epoch": epoch, "seq": True},
            {"epoch": epoch},
            {},
        ):
            got = await w.chat.join_state(w.room, since)
            assert got == {"epoch": epoch, "seq": 70, "history": latest, "recovered": False}, since
        plain = await w.chat.join_state(w.room, None)
        assert plain == {"epoch": epoch, "seq": 70, "history": latest}

        # Too far behind: the client reloads instead of receiving an unbounded backlog.
        import live.chat.service as chat_service

        old = chat_service.RECOVER_MAX
        chat_service.RECOVER_MAX = 30
        try:
            got = await w.chat.join_state(w.room, {"epoch": epoch, "seq": 39})
            assert got["recovered"] is False and got["history"] == latest
            got = await w.chat.join_state(w.room, {"epoch": epoch, "seq": 40})
            assert got["recovered"] is True and got["history"] == sent[40:]
        finally:
            chat_service.RECOVER_MAX = old

        # Deleted messages are left out of recovered history (the rest is complete).
        await w.chat.delete(w.room, 66, owner, "oops")
        got = await w.chat.join_state(w.room, {"epoch": epoch, "seq": 64})
        assert got["recovered"] is True and [e["seq"] for e in got["history"]] == [65, 67, 68, 69, 70]


async def test_recovery_reads_the_stream_and_falls_back_to_the_database(
    make_settings: Any, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_server(make_settings(redis_url=redis_url, redis_prefix=redis_prefix, chat_burst=1000)) as server:
        async with people(server, "owner") as cast:
            w = await make_world(server, cast)
            chat = w.chat
            assert chat.stream is not None
            sent = [await chat.append(w.room, w.p("owner"), f"m{i}", f"n{i}") for i in range(1, 31)]
            epoch = sent[0]["epoch"]
            client = server.services.bus.client
            key = chat.stream.stream_key(w.room)
            assert key == "{" + redis_prefix + "room." + w.room + "}:chat"
            assert await client.xlen(key) == 30

            db_reads: list[int] = []
            real = chat_store.messages

            async def counting(*args: Any, **kw: Any) -> Any:
                db_reads.append(1)
                return await real(*args, **kw)

            monkeypatch.setattr(chat_store, "messages", counting)
            got = await chat.join_state(w.room, {"epoch": epoch, "seq": 10})
            assert got["recovered"] is True and got["history"] == sent[10:]
            assert db_reads == []  # served from the stream
            await chat.delete(w.room, 12, w.p("owner"), "x")
            got = await chat.join_state(w.room, {"epoch": epoch, "seq": 10})
            assert [e["seq"] for e in got["history"]] == [11, *range(13, 31)]
            assert db_reads == []

            # The stream lost (a Redis without persistence restarted): the database answers.
            await client.delete(key)
            got = await chat.join_state(w.room, {"epoch": epoch, "seq": 10})
            assert got["recovered"] is True and [e["seq"] for e in got["history"]] == [11, *range(13, 31)]
            assert db_reads == [1]
            # A hole in the stream (one write failed): the database answers, never a partial set.
            await chat.append(w.room, w.p("owner"), "after", "n31")
            await client.xtrim(key, maxlen=0)
            await chat.append(w.room, w.p("owner"), "after2", "n32")
            got = await chat.join_state(w.room, {"epoch": epoch, "seq": 29})
            assert [e["text"] for e in got["history"]] == ["m30", "after", "after2"]
            assert len(db_reads) == 2
            # Only the newest message wanted and in the stream: no database read.
            got = await chat.join_state(w.room, {"epoch": epoch, "seq": 31})
            assert [e["text"] for e in got["history"]] == ["after2"] and len(db_reads) == 2


async def test_rules_on_every_message(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with run_server(make_settings()) as server:
        async with people(server, "owner", "moderator", "member", "member2", "outsider") as cast:
            w = await make_world(server, cast, blocked_words=[])
            chat, room = w.chat, w.room

            async def fails(who: str, text: str, code: ErrorCode, nonce: str | None = None) -> ApiError:
                with pytest.raises(ApiError) as err:
                    await chat.append(room, w.p(who), text, nonce or f"{who}-{text[:20]}-{code.value}")
                assert err.value.code is code, (who, text, err.value)
                return err.value

            assert (await chat.append(room, w.p("member"), "x" * 500, "long-ok"))["seq"] == 1
            await fails("member", "x" * 501, ErrorCode.MESSAGE_TOO_LONG)
            await fails("member", "   ", ErrorCode.INVALID_REQUEST)
            await fails("outsider", "hi", ErrorCode.NOT_MEMBER)
            # Banned the way moderation bans (out of the community too): `banned`, not `not_member`.
            from live.communities.service import remove_member

            async with server.services.db.session() as session:
                await sanctions.impose(session, w.cid, w.cast["outsider"].id, sanctions.BAN, None, "b0")
                await remove_member(session, w.cid, w.cast["outsider"].id)
            chat.invalidate(w.cid, w.cast["outsider"].id)
            await fails("outsider", "hi", ErrorCode.BANNED)

            # Keyword filter and slow mode come from the community (set before anyone chatted
            # here, then picked up again after the moderation endpoint's event).
            r = await w.cast["owner"].call("PATCH", f"/v1/communities/{w.cid}/moderation/chat",
                                            json={"slow_mode_seconds": 30, "blocked_words": ["Spam", "buy now"],
                                                  "reason": "raid"})
            assert r.status_code == 200, r.text
            await fails("member2", "no SPAM here", ErrorCode.BLOCKED_WORD)
            await fails("member2", "BUY  now!", ErrorCode.BLOCKED_WORD)
            await chat.append(room, w.p("member2"), "spammer is a word, not a blocked one", "ok-1")
            err = await fails("member2", "again", ErrorCode.SLOW_MODE)
            assert 29 <= (err.retry_after or 0) <= 30
            # A repeated nonce is answered from storage, even in slow mode.
            assert (await chat.append(room, w.p("member2"), "whatever", "ok-1"))["seq"] == 2
            # Moderators and up are exempt from slow mode.
            for i in range(3):
                await chat.append(room, w.p("moderator"), f"mod {i}", f"mod-{i}")

            # Mutes (with until), bans; invalidate() makes them take effect at once.
            until = utcnow() + dt.timedelta(hours=1)
            async with server.services.db.session() as session:
                await sanctions.impose(session, w.cid, w.cast["member"].id, sanctions.MUTE, until, "a1")
            chat.invalidate(w.cid, w.cast["member"].id)
            err = await fails("member", "hello", ErrorCode.MUTED)
            assert err.until is not None and err.until.startswith(until.strftime("%Y-%m-%dT%H:%M"))
            async with server.services.db.session() as session:
                await sanctions.impose(session, w.cid, w.cast["moderator"].id, sanctions.BAN, None, "a2")
            chat.invalidate(w.cid, w.cast["moderator"].id)
            err = await fails("moderator", "hello", ErrorCode.BANNED)
            assert err.until is None
            async with server.services.db.session() as session:
                await sanctions.lift(session, w.cid, w.cast["moderator"].id, sanctions.BAN)
            chat.invalidate(w.cid, w.cast["moderator"].id)
            await chat.append(room, w.p("moderator"), "back", "back")

            # A timed mute lifts itself: the cache never outlives the sanction. (Time moves on by
            # hand: the database's clock and the cache's, together.)
            shift = ClockShift().install(monkeypatch)
            chat._standing._clock = shift.monotonic
            soon = utcnow() + dt.timedelta(seconds=0.5)
            async with server.services.db.session() as session:
                await sanctions.impose(session, w.cid, w.cast["member"].id, sanctions.MUTE, soon, "a3")
            chat.invalidate(w.cid, w.cast["member"].id)
            await fails("member", "soon", ErrorCode.MUTED)
            shift.advance(0.7)
            # No longer muted: what stops this member now is only slow mode (they wrote earlier).
            await fails("member", "free again", ErrorCode.SLOW_MODE)


async def test_rate_limit_with_an_injected_clock(server: RunningServer) -> None:
    async with people(server, "owner", "member") as cast:
        w = await make_world(server, cast)
        now = [0.0]
        w.chat.limiter = RateLimiter(1.0, 3, lambda: now[0])
        for i in range(3):
            await w.chat.append(w.room, w.p("member"), f"m{i}", f"m{i}")
        with pytest.raises(ApiError) as err:
            await w.chat.append(w.room, w.p("member"), "m3", "m3")
        assert err.value.code is ErrorCode.RATE_LIMITED and err.value.retry_after == 1.0
        # Others are not affected.
        await w.chat.append(w.room, w.p("owner"), "o", "o")
        now[0] += 1.0
        assert (await w.chat.append(w.room, w.p("member"), "m3", "m3"))["seq"] == 5
        # The configured bucket (LIVE_CHAT_RATE / LIVE_CHAT_BURST) is the default one.
        fresh = ChatService(server.services)
        assert (fresh.limiter.rate, fresh.limiter.burst) == (server.settings.chat_rate, server.settings.chat_burst)


async def test_rooms_groups_and_closed_lives(server: RunningServer) -> None:
    async with people(server, "owner", "member", "grouped") as cast:
        w = await make_world(server, cast)
        owner = w.cast["owner"]
        group = await owner.ok("POST", f"/v1/communities/{w.cid}/groups", 201, json={"name": "g"})
        groom = f"group:{group['id']}"
        chat = w.chat
        with pytest.raises(ApiError) as err:
            await chat.append(groom, w.p("grouped"), "not yet in it", "g0")
        assert err.value.code is ErrorCode.FORBIDDEN
        await w.cast["grouped"].ok("POST", f"/v1/groups/{group['id']}/join")
        event = await chat.append(groom, w.p("grouped"), "in the group", "g1")  # at once
        assert event["room"] == groom and event["seq"] == 1
        with pytest.raises(ApiError) as err:
            await chat.append(groom, w.p("member"), "not in it", "g2")
        assert err.value.code is ErrorCode.FORBIDDEN
        assert (await chat.join_state(groom, None))["history"] == [event]

        for room, code in [
            ("live:nope", ErrorCode.NOT_FOUND),
            ("group:nope", ErrorCode.NOT_FOUND),
            ("community:x", ErrorCode.INVALID_REQUEST),
            ("live:", ErrorCode.INVALID_REQUEST),
            ("nonsense", ErrorCode.INVALID_REQUEST),
        ]:
            with pytest.raises(ApiError) as err:
                await chat.append(room, w.p("owner"), "x", "x")
            assert err.value.code is code, room
        with pytest.raises(ApiError) as err:
            await chat.join_state("community:x", None)
        assert err.value.code is ErrorCode.INVALID_REQUEST

        await chat.append(w.room, w.p("member"), "before the end", "e1")
        await owner.ok("POST", f"/v1/live/{w.lid}/end")
        with pytest.raises(ApiError) as err:
            await chat.append(w.room, w.p("member"), "after the end", "e2")
        assert err.value.code is ErrorCode.CONFLICT
        # History stays readable.
        assert [e["text"] for e in await chat.page(w.room, 0, 50)] == ["before the end"]


async def test_delete(chat_server: RunningServer) -> None:
    async with people(chat_server, "owner", "admin", "moderator", "member", "member2") as cast:
        w = await make_world(chat_server, cast)
        chat, room = w.chat, w.room
        listener = await Listener(chat_server.services.bus).start(room)
        try:
            msgs = {}
            for who in ("member", "member2", "admin", "moderator"):
                msgs[who] = await chat.append(room, w.p(who), f"by {who}", who)
            await chat.delete(room, msgs["member"]["seq"], w.p("member"), "")  # the author
            await chat.delete(room, msgs["member2"]["seq"], w.p("moderator"), "rude")  # a moderator
            for seq, who, code in [
                (msgs["admin"]["seq"], "moderator", ErrorCode.FORBIDDEN),  # outranked
                (msgs["moderator"]["seq"], "member2", ErrorCode.FORBIDDEN),  # not staff
                (msgs["member"]["seq"], "owner", ErrorCode.NOT_FOUND),  # already deleted
                (999, "owner", ErrorCode.NOT_FOUND),
            ]:
                with pytest.raises(ApiError) as err:
                    await chat.delete(room, seq, w.p(who), "x")
                assert err.value.code is code, (seq, who)
            with pytest.raises(ApiError) as err:
                await chat.delete("live:nope", 1, w.p("owner"), "x")
            assert err.value.code is ErrorCode.NOT_FOUND

            # Through the moderation API (the moderation.action event).
            r = await w.cast["moderator"].call(
                "POST", f"/v1/communities/{w.cid}/moderation",
                json={"action": "delete", "target": {"type": "message", "id": msgs["moderator"]["id"]},
                      "reason": "spam"},
            )
            assert r.status_code == 201, r.text
            events = await listener.wait_for(7)
            deleted = [e for e in events if e["type"] == "chat.deleted"]
            assert deleted == [
                {"type": "chat.deleted", "room": room, "seq": 1, "reason": ""},
                {"type": "chat.deleted", "room": room, "seq": 2, "reason": "rude"},
                {"type": "chat.deleted", "room": room, "seq": 4, "reason": "spam"},
            ]
            state = await chat.join_state(room, None)
            assert [e["text"] for e in state["history"]] == ["by admin"]
            assert state["seq"] == 4
            # A moderator's deletion is in the member-visible log, naming the author; the author's own is not.
            r = await w.cast["member"].call("GET", f"/v1/communities/{w.cid}/moderation/log")
            entries = [e for e in r.json()["items"] if e["action"] == "delete"]
            assert sorted((e["target"]["id"], e["reason"]) for e in entries) == sorted(
                [(msgs["member2"]["id"], "rude"), (msgs["moderator"]["id"], "spam")]
            )
            assert all(e["target"]["type"] == "message" for e in entries)
        finally:
            await listener.close()


@pytest.mark.postgres
async def test_two_nodes_deliver_in_seq_order(
    postgres_url: str | None, redis_url: str, redis_prefix: str
) -> None:
    """Two app nodes sharing PostgreSQL and Redis append to one room at once; a member connected
    to each node receives every message once, in strictly increasing seq, although each node
    publishes after its commit and one node's publish may overtake the other's (the hub holds a
    skipped seq back and recovers it from the store). The stream holds every seq once."""
    if postgres_url is None:
        pytest.skip("PostgreSQL is not reachable")
    from live.client import LiveClient
    from tests.support.servers import settings

    cfg = settings(database_url=postgres_url, redis_url=redis_url, redis_prefix=redis_prefix, chat_burst=1000)
    async with run_server(cfg) as node_a, run_server(cfg) as node_b:
        async with people(node_a, "owner", "m1", "m2", "m3") as cast:
            w = await make_world(node_a, cast)
            watchers = [await LiveClient.connect(node.url, node.token(cast[i].id, cast[i].name))
                        for i, node in enumerate((node_a, node_b))]
            try:
                for watcher in watchers:
                    await watcher.request("room.join", room=w.room)
                chats = [node_a.services.chat, node_b.services.chat]

                async def sender(node: int, person: Person) -> None:
                    for i in range(15):
                        await chats[node].append(w.room, me(person), f"{node}-{i}", f"{node}-{person.name}-{i}")

                await asyncio.gather(*(sender(n, p) for n in (0, 1) for p in cast))
                total = 2 * len(cast) * 15
                for watcher in watchers:
                    seen = [(await watcher.next_event("chat.message", room=w.room))["seq"] for _ in range(total)]
                    assert seen == list(range(1, total + 1))
                first = await chats[0].join_state(w.room, None)
                for chat in chats:
                    state = await chat.join_state(w.room, {"epoch": first["epoch"], "seq": 0})
                    assert state["recovered"] is True and state["seq"] == total
                    assert [e["seq"] for e in state["history"]] == list(range(1, total + 1))
                key = chats[0].stream.stream_key(w.room)
                entries = await node_a.services.bus.client.xrange(key)
                assert sorted(int(f[b"s"]) for _, f in entries) == list(range(1, total + 1))
            finally:
                for watcher in watchers:
                    await watcher.close()


async def test_bus_failure_keeps_the_message(make_settings: Any, redis_server: Any) -> None:
    """Redis down: the message is still stored and acknowledged (recovery fills the gap)."""
    async with run_server(make_settings(redis_url=redis_server.url, redis_prefix="t:")) as server:
        async with people(server, "owner") as cast:
            w = await make_world(server, cast)
            first = await w.chat.append(w.room, w.p("owner"), "one", "n1")
            redis_server.stop()
            second = await w.chat.append(w.room, w.p("owner"), "two", "n2")
            assert second["seq"] == first["seq"] + 1
            state = await w.chat.join_state(w.room, {"epoch": first["epoch"], "seq": 0})
            assert state["recovered"] is True and [e["text"] for e in state["history"]] == ["one", "two"]
            async with server.services.db.session() as session:
                row = await chat_store.by_nonce(session, w.room, w.cast["owner"].id, "n2")
            assert row is not None and row.text == "two"


async def test_metrics(server: RunningServer) -> None:
    async with people(server, "owner") as cast:
        w = await make_world(server, cast)
        await w.chat.append(w.room, w.p("owner"), "hi", "m1")
        await w.chat.append(w.room, w.p("owner"), "hi", "m1")
        with pytest.raises(ApiError):
            await w.chat.append(w.room, w.p("owner"), "x" * 501, "m2")
        await w.chat.join_state(w.room, {"epoch": "nope", "seq": 0})
        text = await server.metrics()
        for needle in (
            "live_chat_messages_stored_total ",
            "live_chat_nonce_repeats_total ",
            'live_chat_refused_total{code="message_too_long"}',
            'live_chat_joins_total{outcome="not_recovered"}',
            'live_chat_history_reads_total{source="database"}',
            "live_chat_append_seconds_bucket",
        ):
            assert needle in text, needle


async def test_erased_text_is_never_served_from_the_stream(
    make_settings: Any, redis_url: str, redis_prefix: str
) -> None:
    async with run_server(make_settings(redis_url=redis_url, redis_prefix=redis_prefix)) as server:
        async with people(server, "owner", "leaver") as cast:
            w = await make_world(server, cast)
            await w.chat.append(w.room, w.p("owner"), "stays", "a")
            await w.chat.append(w.room, w.p("leaver"), "my secret", "b")
            await w.chat.append(w.room, w.p("owner"), "stays too", "c")
            epoch = (await w.chat.join_state(w.room, None))["epoch"]
            await w.cast["leaver"].ok("DELETE", "/v1/me", 204)
            key = w.chat.stream.stream_key(w.room)
            assert await server.services.bus.client.xlen(key) == 3  # still in Redis...
            for since in (None, {"epoch": epoch, "seq": 0}):
                state = await w.chat.join_state(w.room, since)
                assert [e["text"] for e in state["history"]] == ["stays", "stays too"]  # ...never served


@pytest.mark.redis
async def test_stream_and_shard_channel_over_a_redis_cluster(sqlite_url: str, redis_prefix: str) -> None:
    """With LIVE_REDIS_CLUSTER=1 the script writes the stream and SPUBLISHes in one slot."""
    import shutil

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server / redis-cli are not installed")
    from tests.support.servers import settings
    from tests.test_fanout_sharded import ClusterNode

    node = ClusterNode()
    try:
        cfg = settings(database_url=sqlite_url, redis_url=node.url, redis_cluster=True, redis_prefix=redis_prefix)
        async with run_server(cfg) as server:
            async with people(server, "owner") as cast:
                w = await make_world(server, cast)
                listener = await Listener(server.services.bus).start(w.room)
                try:
                    sent = [await w.chat.append(w.room, w.p("owner"), f"m{i}", f"n{i}") for i in range(5)]
                    assert [e["seq"] for e in await listener.wait_for(5)] == [1, 2, 3, 4, 5]
                    client = server.services.bus.client
                    assert await client.xlen(w.chat.stream.stream_key(w.room)) == 5
                    got = await w.chat.join_state(w.room, {"epoch": sent[0]["epoch"], "seq": 2})
                    assert got["recovered"] is True and got["history"] == sent[2:]
                finally:
                    await listener.close()
    finally:
        node.stop()


async def test_a_batch_whose_commit_fails_is_never_published(
    chat_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribers hear only of stored messages: a transaction that fails at its commit (the
    node killed, the database gone) published nothing, its sender is told `unavailable`, and the
    next message takes its seq with no phantom before it on the bus."""
    async with people(chat_server, "owner") as cast:
        w = await make_world(chat_server, cast)
        listener = await Listener(chat_server.services.bus).start(w.room)
        try:
            first = await w.chat.append(w.room, w.p("owner"), "one", "n1")
            db = chat_server.services.db
            write = db.write

            @contextlib.asynccontextmanager
            async def fails_at_commit() -> AsyncIterator[Any]:
                async with write() as unit:
                    yield unit
                    raise OSError("the connection died at the commit")  # rolled back

            monkeypatch.setattr(db, "write", fails_at_commit)
            with pytest.raises(ApiError) as failed:
                await w.chat.append(w.room, w.p("owner"), "never stored", "n2")
            assert failed.value.code is ErrorCode.UNAVAILABLE
            monkeypatch.setattr(db, "write", write)
            third = await w.chat.append(w.room, w.p("owner"), "three", "n3")
            assert third["seq"] == first["seq"] + 1
            await listener.wait_for(2)
            await asyncio.sleep(0.1)  # anything else on its way
            assert [(e["seq"], e["text"]) for e in listener.events] == [(first["seq"], "one"), (third["seq"], "three")]
        finally:
            await listener.close()
