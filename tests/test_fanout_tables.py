"""Table tests of the fan-out's small parts, no server: the connection's `Outbox` (byte cap, what
one frame takes), a room `Seat` (chat de-duplication by seq, events held during a join) and the
node's `Flusher` (at most one flush per write interval), with time from a manual clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from live.frames import Batch, Encoding
from live.media.relay import KeyframeThrottle
from live.room_id import RoomId
from live.signaling.connection import Connection, Seat
from live.signaling.flusher import Flusher
from live.signaling.outbox import MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, Outbox
from live.signaling.session import CLOSE_TOO_SLOW
from tests.support.clock import ManualClock


def batch(messages: int = 1, size: int = 10, seqs: list[int | None] | None = None) -> Batch:
    """`messages` encoded messages of `size` bytes each (with these chat seqs, if given)."""
    if seqs is not None:
        messages = len(seqs)
    return Batch(Encoding.JSON, [b"x" * size] * messages, seqs)


# -- Outbox -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("queued", "frames"), [
    pytest.param([(1, 10)], [1], id="one-batch"),
    pytest.param([(10, 10)] * 10, [10], id="small-batches-one-frame"),
    pytest.param([(MAX_BATCH_MESSAGES + 88, 1)], [1], id="a-batch-over-the-message-cap-goes-alone"),
    pytest.param([(1, 1)] * (MAX_BATCH_MESSAGES + 88), [MAX_BATCH_MESSAGES, 88], id="message-cap-single-messages"),
    # The cap counts messages, not batches: 3 x 300 messages are 900, over 512 (was one frame).
    pytest.param([(300, 1)] * 3, [1, 1, 1], id="message-cap-counts-messages-not-batches"),
    pytest.param([(300, 1), (MAX_BATCH_MESSAGES - 300, 1)], [2], id="exactly-the-message-cap"),
    pytest.param([(1, 200 * 1024)] * 2, [1, 1], id="byte-cap"),
    pytest.param([(1, MAX_BATCH_BYTES // 2)] * 2, [2], id="exactly-the-byte-cap"),
    pytest.param([(1, MAX_BATCH_BYTES + 1)], [1], id="a-batch-over-the-byte-cap-goes-alone"),
])
def test_outbox_take_gives_one_frames_worth(queued: list[tuple[int, int]], frames: list[int]) -> None:
    outbox = Outbox(1 << 30)
    for messages, size in queued:
        assert outbox.put(batch(messages, size), 0.0)
    taken = []
    while len(outbox):
        items = outbox.take()
        assert sum(p.count for p, _ in items) <= MAX_BATCH_MESSAGES or len(items) == 1
        assert sum(len(p) for p, _ in items) <= MAX_BATCH_BYTES or len(items) == 1
        taken.append(len(items))
    assert taken == frames
    assert outbox.queued_bytes == 0
    assert outbox.inflight_bytes == sum(m * s for m, s in queued)  # until released


# Steps: ("put", bytes) -> accepted?; ("take", None) -> batches taken; ("release", bytes) -> None.
@pytest.mark.parametrize(("cap", "steps"), [
    pytest.param(100, [("put", 40, True), ("put", 60, True), ("put", 1, False), ("put", 1, False)],
                 id="over-the-cap-and-stays-over"),
    pytest.param(100, [("put", 60, True), ("take", None, 1), ("put", 50, False)],
                 id="taken-but-unwritten-still-counts"),
    pytest.param(100, [("put", 60, True), ("take", None, 1), ("release", 60, None), ("put", 100, True)],
                 id="released-frees-the-cap"),
    pytest.param(100, [("put", 101, False)], id="one-part-over-the-cap"),
    pytest.param(100, [("take", None, 0), ("put", 100, True), ("take", None, 1), ("take", None, 0)],
                 id="take-when-empty"),
])
def test_outbox_cap_counts_queued_and_inflight_bytes(cap: int, steps: list[tuple[str, int | None, Any]]) -> None:
    outbox = Outbox(cap)
    for op, size, expected in steps:
        if op == "put":
            assert size is not None
            assert outbox.put(batch(1, size), 0.0) is expected, (op, size)
        elif op == "take":
            assert len(outbox.take()) == expected
        else:
            assert size is not None
            outbox.release(size)
    if outbox.overflowed:
        assert len(outbox) == 0 and outbox.queued_bytes == 0  # dropped: the connection closes


async def test_outbox_wake_follows_what_is_queued() -> None:
    outbox = Outbox(1000)
    assert not outbox.wake.is_set()
    outbox.put(batch(), 0.0)
    assert outbox.wake.is_set()
    outbox.take()
    assert not outbox.wake.is_set()
    fresh = Outbox(1000)
    fresh.put(batch(), 0.0)
    assert fresh.wake.is_set()  # made after the put: set at once


# -- Seat ---------------------------------------------------------------------------------------

ROOM = RoomId("community:c1")


class _Socket:
    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def connection(send_queue_bytes: int = 1 << 20) -> Connection:
    """A connection with nothing behind it: what it queues stays in its outbox (it is not open)."""
    session: Any = SimpleNamespace(user=SimpleNamespace(id="u1"), encoding=Encoding.JSON,
                                   close=lambda code, reason: [])
    flusher = Flusher()

    async def perform(conn: Connection, request: Any) -> list[Any]:
        return []

    return Connection(_Socket(), session, perform=perform, flusher=flusher,  # type: ignore[arg-type]
                      send_queue_bytes=send_queue_bytes, heartbeat=25)


def queued_seqs(conn: Connection) -> list[int | None]:
    return [seq for part, _ in conn.outbox.take() for seq in part.seqs]


@pytest.mark.parametrize(("last_seq", "seqs", "delivered", "after"), [
    pytest.param(10, [11, 12, 13], [11, 12, 13], 13, id="all-new"),
    pytest.param(10, [9, 10], [], 10, id="all-seen"),
    pytest.param(10, [9, 10, 11], [11], 11, id="overlap"),
    pytest.param(10, [None, None], [None, None], 10, id="not-chat"),
    pytest.param(10, [None, 10, 11], [None, 11], 11, id="mixed"),
    pytest.param(10, [13, 12, 14], [13, 14], 14, id="out-of-order"),
    pytest.param(0, [1], [1], 1, id="first-message"),
])
def test_a_seat_takes_each_chat_message_once(last_seq: int, seqs: list[int | None],
                                            delivered: list[int | None], after: int) -> None:
    conn = connection()
    conn.seats[ROOM] = Seat(access=None, last_seq=last_seq, pending=None)  # type: ignore[arg-type]
    conn.deliver(ROOM, batch(seqs=seqs), 0.0)
    assert queued_seqs(conn) == delivered
    assert conn.seats[ROOM].last_seq == after


def test_a_room_without_a_seat_gets_nothing() -> None:
    conn = connection()
    conn.deliver(ROOM, batch(seqs=[1]), 0.0)
    assert len(conn.outbox) == 0


@pytest.mark.parametrize(("held", "join_seq", "delivered"), [
    pytest.param([[1, 2], [3]], 0, [1, 2, 3], id="join-before-everything"),
    pytest.param([[1, 2], [3]], 2, [3], id="join-covers-the-first"),
    pytest.param([[1, 2], [None], [3]], 3, [None], id="join-covers-all-chat"),
    pytest.param([[2, 3]], 2, [3], id="join-covers-part-of-a-batch"),
    pytest.param([], 5, [], id="nothing-held"),
])
def test_events_held_during_a_join_follow_its_reply(held: list[list[int | None]], join_seq: int,
                                                   delivered: list[int | None]) -> None:
    conn = connection()
    conn.seats[ROOM] = Seat(access=None)  # type: ignore[arg-type]  # pending: the join is in flight
    for seqs in held:
        conn.deliver(ROOM, batch(seqs=seqs), 0.0)
    assert len(conn.outbox) == 0 and conn.seats[ROOM].held_bytes == 10 * sum(map(len, held))
    conn.send({"type": "ok", "ref": 1})  # the join's reply
    conn.finish_join(ROOM, "epoch", join_seq)
    seat = conn.seats[ROOM]
    assert seat.pending is None and seat.held_bytes == 0 and seat.epoch == "epoch"
    assert queued_seqs(conn) == [None, *delivered]  # the reply first


@pytest.mark.parametrize(("cap", "already_queued", "held_sizes", "closed"), [
    pytest.param(100, 0, [50, 50], False, id="up-to-the-cap"),
    pytest.param(100, 0, [50, 51], True, id="over-the-cap"),
    pytest.param(100, 60, [40], False, id="with-the-outbox-up-to-the-cap"),
    pytest.param(100, 60, [41], True, id="with-the-outbox-over-the-cap"),
])
async def test_events_held_during_a_join_count_against_the_cap(cap: int, already_queued: int,
                                                              held_sizes: list[int], closed: bool) -> None:
    conn = connection(send_queue_bytes=cap)
    if already_queued:
        assert conn.outbox.put(batch(1, already_queued), 0.0)
    conn.seats[ROOM] = Seat(access=None)  # type: ignore[arg-type]
    for size in held_sizes:
        conn.deliver(ROOM, batch(1, size), 0.0)
    assert (conn.close_code == CLOSE_TOO_SLOW) is closed
    await asyncio.gather(*conn._side_tasks)  # the close (to a socket that is not there)


# -- Flusher ------------------------------------------------------------------------------------


class FlushRecorder:
    """Stands in for a connection in the flusher: records when each flush wrote it."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.flushed: list[float] = []

    def flush_now(self, now: float, loop_now: float) -> tuple[int, int, float]:
        self.flushed.append(loop_now)
        return 1, 1, now

    def abort(self, code: int, reason: str) -> None:
        raise AssertionError("not aborted")


@pytest.mark.parametrize(("interval", "marks", "flushes"), [
    pytest.param(0.0, [0.0, 0.0, 0.5], {0.0: 2, 0.5: 1}, id="no-interval-every-iteration"),
    pytest.param(0.3, [0.0], {0.0: 1}, id="after-a-quiet-spell-at-once"),
    pytest.param(0.3, [0.0, 0.0], {0.0: 2}, id="same-iteration-one-flush"),
    pytest.param(0.3, [0.0, 0.1], {0.0: 1, 0.3: 1}, id="soon-after-waits-for-the-interval"),
    pytest.param(0.3, [0.0, 0.1, 0.2], {0.0: 1, 0.3: 2}, id="what-comes-meanwhile-shares-the-flush"),
    pytest.param(0.3, [0.0, 0.5], {0.0: 1, 0.5: 1}, id="after-the-interval-at-once"),
    pytest.param(0.3, [0.0, 0.1, 0.35], {0.0: 1, 0.3: 1, 0.6: 1}, id="busy-one-flush-per-interval"),
    pytest.param(0.3, [0.0, 0.3], {0.0: 1, 0.3: 1}, id="exactly-one-interval-later"),
])
def test_a_busy_node_flushes_at_most_once_per_interval(interval: float, marks: list[float],
                                                      flushes: dict[float, int]) -> None:
    """`marks`: when a delivery marks a connection (one connection each); `flushes`: when the
    flusher wrote, and how many connections each time. A burst of 1: every flush after the first
    waits out the interval since the last."""
    _flush_table(Flusher(interval, ManualClock(1000.0)), marks, flushes)


@pytest.mark.parametrize(("marks", "flushes"), [
    pytest.param([0.0, 0.1, 0.2, 0.3], {0.0: 1, 0.1: 1, 0.2: 1, 0.3: 1}, id="a-slow-room-at-once"),
    pytest.param([0.0, 0.0, 0.01, 0.02, 0.03, 0.04], {0.0: 2, 0.01: 1, 0.02: 1, 0.03: 1, 0.3: 1},
                 id="four-back-to-back-then-paced"),
    pytest.param([0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06], {0.0: 1, 0.01: 1, 0.02: 1, 0.03: 1, 0.3: 3},
                 id="what-waits-shares-the-paced-flush"),
    pytest.param([0.0, 0.01, 0.02, 0.03, 1.3, 1.31, 1.32, 1.33, 1.34], {0.0: 1, 0.01: 1, 0.02: 1, 0.03: 1,
                                                                         1.3: 1, 1.31: 1, 1.32: 1, 1.33: 1, 1.6: 1},
                 id="a-quiet-spell-refills-the-burst"),
])
def test_a_burst_of_flushes_goes_at_once_then_the_interval_paces_them(marks: list[float],
                                                                      flushes: dict[float, int]) -> None:
    """The node's flusher (interval 0.3 s here, burst 4): a room slower than one message an
    interval has nothing to merge and gets every message at once; a busy one, one flush an
    interval after the burst."""
    _flush_table(Flusher(0.3, ManualClock(1000.0), burst=4), marks, flushes)


def _flush_table(flusher: Flusher, marks: list[float], flushes: dict[float, int]) -> None:
    clock = flusher._loop
    assert isinstance(clock, ManualClock)
    conns = []
    for i, at in enumerate(marks):
        if i == 0 or at != marks[i - 1]:  # a later loop iteration: what was due by now runs first
            clock.advance(1000.0 + at - clock.now)
        conns.append(FlushRecorder(f"c{len(conns)}"))
        flusher.mark(conns[-1])
    clock.advance(10)
    written = Counter(round(t - 1000.0, 6) for c in conns for t in c.flushed)
    assert dict(written) == flushes
    assert all(len(c.flushed) == 1 for c in conns)


def test_a_failing_connection_is_aborted_and_the_others_flushed() -> None:
    class Broken(FlushRecorder):
        aborted: int | None = None

        def flush_now(self, now: float, loop_now: float) -> tuple[int, int, float]:
            raise RuntimeError("boom")

        def abort(self, code: int, reason: str) -> None:
            self.aborted = code

    clock = ManualClock()
    flusher = Flusher(0.0, clock)
    broken, fine = Broken("b"), FlushRecorder("f")
    flusher.mark(broken)
    flusher.mark(fine)
    clock.advance()
    assert broken.aborted is not None and fine.flushed == [0.0]


# -- the keyframe throttle (the same clock) ------------------------------------------------------


@pytest.mark.parametrize(("requests", "sent"), [
    pytest.param([0.0], [0.0], id="one"),
    pytest.param([0.0, 0.1, 0.2, 0.25], [0.0, 0.3], id="burst-one-more-at-the-window-end"),
    pytest.param([0.0, 0.4], [0.0, 0.4], id="after-the-window-at-once"),
    pytest.param([0.0, 0.1, 0.4], [0.0, 0.3, 0.6], id="each-window-once"),
    pytest.param([0.0, 0.3], [0.0, 0.3], id="exactly-a-window-later"),
])
async def test_keyframe_requests_once_per_window(requests: list[float], sent: list[float]) -> None:
    clock = ManualClock()
    at: list[float] = []

    async def send() -> bool:
        at.append(throttle.last)  # when it fired
        return True

    throttle = KeyframeThrottle(send, interval=0.3, clock=clock.time, call_later=clock.call_later)
    for when in requests:
        clock.advance(when - clock.now)
        await asyncio.sleep(0)  # the send of a request due now
        throttle.request()
        await asyncio.sleep(0)
    for _ in range(10):
        clock.advance(0.1)
        await asyncio.sleep(0)
    assert [round(t, 6) for t in at] == sent
    assert throttle.requested == len(requests) and throttle.sent == len(sent)


async def test_a_keyframe_request_that_cannot_go_yet_is_tried_again_next_window() -> None:
    clock = ManualClock()
    answers = [False, False, True]
    at: list[float] = []

    async def send() -> bool:
        at.append(throttle.last)  # when it fired
        return answers.pop(0)

    throttle = KeyframeThrottle(send, interval=0.3, clock=clock.time, call_later=clock.call_later)
    throttle.request()
    for _ in range(10):
        await asyncio.sleep(0)
        clock.advance(0.1)
        await asyncio.sleep(0)
    assert [round(t, 6) for t in at] == [0.0, 0.3, 0.6] and throttle.sent == 1
    assert clock.timers == []
