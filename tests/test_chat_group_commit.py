"""Group commit (`live.chat.appends`): a busy room's appends share one transaction and one
publish, and every caller still gets its own answer. The queue on its own, then on SQLite and
PostgreSQL with the in-process bus and with Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from live.auth.tokens import Principal
from live.bus.base import Message
from live.chat.appends import Append, RoomWriters
from live.errors import ApiError, ErrorCode
from live.rooms.channels import decode_event, room_channel
from tests.support.communities import people
from tests.support.servers import RunningServer, run_server
from tests.support.waiting import eventually, poll
from tests.test_chat import Listener, chat_server, make_world, me  # noqa: F401 - chat_server: a fixture

USER = Principal("u1", "U")


# -- the queue ---------------------------------------------------------------------------------


class Recorder:
    """A store_batch that answers each append with its text, after `gate` opens."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next: Exception | None = None

    async def __call__(self, room: str, batch: list[Append]) -> None:
        self.batches.append([a.text for a in batch])
        await self.gate.wait()
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        for a in batch:
            a.answer({"room": room, "text": a.text})


async def test_appends_that_arrive_while_a_batch_is_stored_go_together_in_order() -> None:
    rec = Recorder()
    writers = RoomWriters(rec, max_batch=4)
    rec.gate.clear()
    first = asyncio.create_task(writers.append("r", USER, "m0", "n0", 0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert rec.batches == [["m0"]]  # a quiet room's first append is written alone, at once
    rest = [asyncio.create_task(writers.append("r", USER, f"m{i}", f"n{i}", 0)) for i in range(1, 7)]
    other = asyncio.create_task(writers.append("other", USER, "o", "o", 0))  # rooms do not wait for each other
    await eventually(lambda: writers.queued("r") == 6)
    rec.gate.set()
    results = await asyncio.gather(first, *rest, other)
    assert [r["text"] for r in results] == [f"m{i}" for i in range(7)] + ["o"]
    # Then the queue, in arrival order, at most max_batch at a time.
    assert [b for b in rec.batches if b != ["o"]] == [["m0"], ["m1", "m2", "m3", "m4"], ["m5", "m6"]]
    assert writers.queued("r") == 0 and not writers._queues  # the writer is gone with its queue


async def test_a_failed_batch_answers_its_callers_with_the_error_and_the_room_goes_on() -> None:
    rec = Recorder()
    writers = RoomWriters(rec)
    rec.gate.clear()
    rec.fail_next = ApiError(ErrorCode.UNAVAILABLE, "the database is unavailable; retry")
    doomed = asyncio.create_task(writers.append("r", USER, "a", "a", 0))
    await asyncio.sleep(0)
    after = asyncio.create_task(writers.append("r", USER, "b", "b", 0))
    await asyncio.sleep(0)
    rec.gate.set()
    with pytest.raises(ApiError) as err:
        await doomed
    assert err.value.code is ErrorCode.UNAVAILABLE
    assert (await after)["text"] == "b"


async def test_a_caller_that_goes_away_does_not_stop_the_writer() -> None:
    rec = Recorder()
    writers = RoomWriters(rec)
    rec.gate.clear()
    gone = asyncio.create_task(writers.append("r", USER, "a", "a", 0))
    await asyncio.sleep(0)
    stays = asyncio.create_task(writers.append("r", USER, "b", "b", 0))
    await asyncio.sleep(0)
    gone.cancel()
    rec.gate.set()
    assert (await stays)["text"] == "b"
    assert rec.batches == [["a"], ["b"]]  # the cancelled caller's message was still written


async def test_closing_lets_the_batch_in_flight_commit() -> None:
    rec = Recorder()
    writers = RoomWriters(rec)
    rec.gate.clear()
    waiting = [asyncio.create_task(writers.append("r", USER, t, t, 0)) for t in "abc"]
    await eventually(lambda: rec.batches)  # a batch in flight
    asyncio.get_running_loop().call_later(0.05, rec.gate.set)  # commits during the grace
    await writers.close(grace=5)
    assert [(await t)["text"] for t in waiting] == ["a", "b", "c"]


async def test_closing_answers_whoever_still_waits_with_unavailable() -> None:
    rec = Recorder()
    writers = RoomWriters(rec)
    rec.gate.clear()  # never opens: the batch in flight is cut off
    waiting = [asyncio.create_task(writers.append("r", USER, t, t, 0)) for t in "abc"]
    await eventually(lambda: rec.batches)  # a batch in flight
    await writers.close(grace=0.05)  # (the grace is what is under test: it runs out)
    for task in waiting:
        with pytest.raises(ApiError) as err:
            await task
        assert err.value.code is ErrorCode.UNAVAILABLE
    assert not writers._queues


# -- on the real stores ------------------------------------------------------------------------


class BusMessages:
    """The raw bus messages of a room's channel: how many publishes carried its events."""

    def __init__(self, bus: Any) -> None:
        self.sub = bus.subscription()
        self.payloads: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, room: str) -> BusMessages:
        await self.sub.subscribe(room_channel(room))
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async for item in self.sub:
            if isinstance(item, Message):
                self.payloads.append(decode_event(item.data))

    def events(self) -> list[dict[str, Any]]:
        return [e for p in self.payloads for e in (p if isinstance(p, list) else [p])]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.sub.close()


async def test_a_burst_is_stored_in_few_transactions_with_consecutive_seqs(
    chat_server: RunningServer,  # noqa: F811 - the fixture imported above
) -> None:
    names = ["owner", *(f"m{i}" for i in range(1, 12))]
    async with people(chat_server, *names) as cast:
        w = await make_world(chat_server, cast)
        bus = await BusMessages(chat_server.services.bus).start(w.room)
        try:
            async def sender(person: Any) -> list[dict[str, Any]]:  # one connection: one at a time
                return [await w.chat.append(w.room, me(person), f"{person.name}-{i}", f"{person.name}-{i}")
                        for i in range(5)]

            # Hold the first transaction until every sender's first message has queued behind it.
            gate = asyncio.Event()
            real = w.chat.writers._store_batch
            held: list[int] = []  # the size of the batch held at the gate

            async def gated(room: str, batch: list[Append]) -> None:
                if not gate.is_set():
                    held.append(len(batch))
                await gate.wait()
                await real(room, batch)

            def waiting() -> int:
                return sum(held) + w.chat.writers.queued(w.room)

            w.chat.writers._store_batch = gated
            running = asyncio.gather(*(sender(p) for p in cast))
            # (the first batch at the gate, too: all queued while the writer is yet to reach it
            # also adds up to everyone, and then nothing is held)
            await poll(lambda: held and waiting() == len(cast), 10)
            # Several wait together: in the held batch (what arrived in the writer's first turn of
            # the event loop) and behind it.
            assert waiting() == len(cast) and held[0] + w.chat.writers.queued(w.room) > 1
            gate.set()
            results = await running
            assert sorted(e["seq"] for r in results for e in r) == list(range(1, 61))
            for r in results:  # each sender's messages in the order it sent them
                assert [e["seq"] for e in r] == sorted(e["seq"] for e in r)
            await poll(lambda: len(bus.events()) >= 60, 5)
            events = bus.events()
            assert [e["seq"] for e in events] == list(range(1, 61))  # once each, in seq order
            assert len(bus.payloads) < 60  # batches: fewer publishes than messages
            assert any(isinstance(p, list) and len(p) > 1 for p in bus.payloads)
            state = await w.chat.join_state(w.room, {"epoch": events[0]["epoch"], "seq": 0})
            assert state["recovered"] is True and state["history"] == events
        finally:
            await bus.close()


async def test_one_batch_answers_each_append_on_its_own(make_settings: Any) -> None:
    """A retry, two twins of one nonce, a second message in slow mode and plain ones, stored
    in one transaction: each gets what it would have got alone."""
    async with run_server(make_settings(chat_burst=1000)) as server:
        async with people(server, "owner", "m1", "m2") as cast:
            w = await make_world(server, cast)
            listener = await Listener(server.services.bus).start(w.room)
            try:
                stored = await w.chat.append(w.room, w.p("m1"), "earlier", "old")
                loop = asyncio.get_running_loop()

                def item(who: str, text: str, nonce: str, slow: int = 0) -> Append:
                    return Append(w.p(who), text, nonce, slow, loop.create_future())

                batch = [
                    item("m1", "retry of earlier", "old"),
                    item("m2", "twin", "t"),
                    item("m2", "twin again", "t"),
                    item("owner", "first in slow mode", "s1", slow=30),
                    item("owner", "second in slow mode", "s2", slow=30),
                    item("m1", "plain", "p"),
                ]
                await w.chat._store_batch(w.room, batch)
                retry, twin, twin_again, slow_ok, slow_refused, plain = batch
                assert retry.done.result() == stored
                assert twin.done.result() == twin_again.done.result()
                assert twin.done.result()["text"] == "twin" and twin.done.result()["seq"] == 2
                assert slow_ok.done.result()["seq"] == 3
                err = slow_refused.done.exception()
                assert isinstance(err, ApiError) and err.code is ErrorCode.SLOW_MODE
                assert 29 <= (err.retry_after or 0) <= 30
                assert plain.done.result()["seq"] == 4
                events = await listener.wait_for(4)
                assert [e["text"] for e in events] == ["earlier", "twin", "first in slow mode", "plain"]
                state = await w.chat.join_state(w.room, None)
                assert state["seq"] == 4 and state["history"] == events
            finally:
                await listener.close()
