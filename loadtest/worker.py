"""One generator process: many simulated members on one event loop, reporting once a second.

Members connect at their planned offsets (the ramp-up) and join their room. The parent names the
sending window once every member has joined or failed (`timing`, shared: send start, send end,
end, as Unix times, 0 while unknown), so that slow joins never overlap the measurement; then
senders send at a fixed schedule. The text of every chat message starts with the time it was
*meant* to be sent (`loadtest.clients.chat_text`), so a generator that falls behind shows up as
latency rather than hiding it (no coordinated omission). Every received `chat.message` is checked against the
member's last `seq`: a jump records the skipped seqs as missing (they may still arrive late: then
they count as reordered), a repeat counts as a duplicate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import resource
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from loadtest.clients import Chats, LiveClient, RequestFailed, SocketIOClient, chat_text
from loadtest.hdr import Histogram
from loadtest.transport import HandshakeFailed

GAP_CAP = 100_000  # missing seqs remembered per member; beyond, only counted


@dataclasses.dataclass
class MemberPlan:
    index: int
    url: str
    user_id: str
    name: str
    token: str
    room: str
    connect_at: float  # seconds after t0
    send_rate: float = 0.0  # messages a second; 0 = listens only
    send_phase: float = 0.0  # seconds after the send start of this sender's first message
    churn: bool = False  # joins and leaves its room over and over


@dataclasses.dataclass
class WorkerPlan:
    worker: int
    target: str  # "live" | "socketio"
    encoding: str
    members: list[MemberPlan]
    message_bytes: int = 64
    join: bool = True
    churn_dwell: tuple[float, float] = (0.5, 2.0)
    connect_timeout: float = 15.0


class Stats:
    """The counters of one generator process (cumulative)."""

    def __init__(self) -> None:
        self.connected = 0  # members whose connect + join succeeded
        self.failed: dict[str, int] = {}  # connect/join failures by reason
        self.closed: dict[str, int] = {}  # connections closed by the server while running, by code
        self.sent = 0
        self.acked = 0
        self.rejected: dict[str, int] = {}  # error replies to chat.send, by code
        self.delivered = 0
        self.duplicated = 0
        self.reordered = 0
        self.missing = 0  # filled in at the end
        self.resyncs = 0
        self.churn_joins = 0
        self.churn_leaves = 0
        self.churn_failed = 0
        self.churn_delivered = 0
        self.tag = 0  # deliveries of messages sent with another tag (an earlier step) count as late
        self.late = 0
        self.latency = Histogram()  # send -> delivery, us
        self.ack = Histogram()  # send -> ok, us
        self.join = Histogram()  # connect start -> join ok, us
        self.churn_join = Histogram()  # room.join -> ok of churning members, us

    def counters(self) -> dict[str, Any]:
        return {
            "connected": self.connected, "failed": dict(self.failed), "closed": dict(self.closed),
            "sent": self.sent, "acked": self.acked, "rejected": dict(self.rejected),
            "delivered": self.delivered, "duplicated": self.duplicated, "reordered": self.reordered,
            "missing": self.missing, "resyncs": self.resyncs, "churn_joins": self.churn_joins,
            "churn_leaves": self.churn_leaves, "churn_failed": self.churn_failed,
            "churn_delivered": self.churn_delivered, "late": self.late,
        }


def _bump(table: dict[str, int], key: str) -> None:
    table[key] = table.get(key, 0) + 1


class Member:
    __slots__ = ("plan", "client", "stats", "last", "gaps", "gaps_over", "joined", "early", "open",
                 "_record", "settled")

    def __init__(self, plan: MemberPlan, wp: WorkerPlan, stats: Stats) -> None:
        self.plan = plan
        self.stats = stats
        self.last = 0
        self.gaps: set[int] = set()
        self.gaps_over = 0
        self.joined = False
        self.early: list[tuple[Chats, float]] = []
        self.open = False
        self.settled = False  # connected and joined, or counted as failed
        self._record = stats.latency.record
        if wp.target == "socketio":
            self.client: LiveClient | SocketIOClient = SocketIOClient(plan.url, plan.user_id, plan.name, self.on_chats)
        else:
            self.client = LiveClient(plan.url, plan.token, self.on_chats, encoding=wp.encoding)

    def on_chats(self, chats: Chats, arrived: float) -> None:
        if self.plan.churn:
            self.stats.churn_delivered += len(chats)
            return
        if not self.joined:
            self.early.append((chats, arrived))
            return
        self.account(chats, arrived)

    def account(self, chats: Chats, arrived: float, after: int = 0) -> None:
        """Count the chat messages of one frame (those past seq `after`): each is delivered once,
        a skipped seq is remembered as a gap (filled later: reordered), a repeat is a duplicate.
        Only messages of the stats' current tag count as delivered, with their latency; those of
        an earlier step that arrive late are counted apart."""
        stats = self.stats
        last = self.last
        tag_now = stats.tag
        record = self._record
        for _room, seq, sent, tag in chats:
            if seq <= after:
                continue
            if seq == last + 1:
                last = seq
            elif seq > last:
                if len(self.gaps) + seq - last < GAP_CAP:
                    self.gaps.update(range(last + 1, seq))
                else:
                    self.gaps_over += seq - last - 1
                last = seq
            elif seq in self.gaps:
                self.gaps.discard(seq)
                stats.reordered += 1
            else:
                stats.duplicated += 1
                continue
            if tag != tag_now:
                stats.late += 1
                continue
            stats.delivered += 1
            if sent >= 0:
                record(int((arrived - sent) * 1e6))
        self.last = last

    def joined_at(self, seq: int) -> None:
        self.last = seq
        self.joined = True
        early, self.early = self.early, []
        for chats, arrived in early:
            self.account(chats, arrived, after=seq)

    def use(self, stats: Stats) -> None:
        """Count into `stats` from now on (a new step)."""
        self.stats = stats
        self._record = stats.latency.record


async def _sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


class Worker:
    def __init__(self, plan: WorkerPlan, t0: float, timing: Any) -> None:
        self.plan = plan
        self.t0 = t0
        self.timing = timing
        self.stats = Stats()
        self.members = [Member(m, plan, self.stats) for m in plan.members]
        self.room_last: dict[str, int] = {}
        self.pad = "x" * max(0, plan.message_bytes - 34)

    async def _window(self) -> tuple[float, float, float]:
        """(send start, send end, end) once the parent has named them."""
        while not self.timing[2]:
            await asyncio.sleep(0.05)
        return self.timing[0], self.timing[1], self.timing[2]

    def _running(self) -> bool:
        end = self.timing[2]
        return not end or time.time() < end - 0.5

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._member(m)) for m in self.members]
        _, _, end = await self._window()
        await _sleep_until(end)
        for task in tasks:
            task.cancel()
        for m in self.members:
            if not m.settled:
                _bump(self.stats.failed, "still connecting or joining at the end")
        await asyncio.gather(*tasks, return_exceptions=True)
        for m in self.members:
            if m.open:
                m.client.close()
        self._count_missing()
        await asyncio.sleep(0.2)  # let the close frames go out

    def _count_missing(self) -> None:
        missing = 0
        for m in self.members:
            if m.joined and not m.plan.churn:
                tail = max(0, self.room_last.get(m.plan.room, 0) - m.last)
                missing += len(m.gaps) + m.gaps_over + tail
        self.stats.missing = missing

    def _note_seq(self, room: str, seq: int) -> None:
        if seq > self.room_last.get(room, 0):
            self.room_last[room] = seq

    async def _member(self, m: Member) -> None:
        plan, stats = m.plan, self.stats
        await _sleep_until(self.t0 + plan.connect_at)
        started = time.time()
        m.settled = False
        try:
            await m.client.connect(self.plan.connect_timeout)
            m.open = True
            if plan.churn:
                stats.connected += 1
                m.settled = True
                await self._churn(m)
                return
            if self.plan.join:
                seq = await m.client.join(plan.room)
                m.joined_at(seq)
                self._note_seq(plan.room, seq)
        except HandshakeFailed as exc:
            m.settled = True
            _bump(stats.failed, "connect: " + str(exc)[:80])
            m.client.ws.abort()
            return
        except RequestFailed as exc:
            m.settled = True
            _bump(stats.failed, "join: " + exc.code)
            m.client.close()
            return
        except OSError as exc:
            m.settled = True
            _bump(stats.failed, f"connect: {type(exc).__name__}")
            return
        m.settled = True
        stats.connected += 1
        stats.join.record(int((time.time() - started) * 1e6))
        closed = m.client.closed
        closed.add_done_callback(lambda f, m=m: self._on_closed(m, f))
        if plan.send_rate > 0:
            await self._send(m)
        await closed

    def _on_closed(self, m: Member, f: asyncio.Future[tuple[int | None, str]]) -> None:
        if not m.open:
            return
        m.open = False
        if f.cancelled():
            return
        code = f.result()[0]
        if self._running():
            _bump(self.stats.closed, str(code))
        self.stats.resyncs += m.client.resyncs

    async def _send(self, m: Member) -> None:
        plan, stats = m.plan, self.stats
        interval = 1.0 / plan.send_rate
        start, end, _ = await self._window()
        due = start + plan.send_phase
        room, client = plan.room, m.client
        n = 0
        rejected = stats.rejected
        ack_record = stats.ack.record

        def on_reply(code: str | None, seq: int | None, arrived: float, due: float = 0.0) -> None:
            if code is None:
                stats.acked += 1
                ack_record(int((arrived - due) * 1e6))
                if seq is not None and seq > self.room_last.get(room, 0):
                    self.room_last[room] = seq
            else:
                rejected[code] = rejected.get(code, 0) + 1

        while due < end and m.open:
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
                if not m.open:
                    break
            text = chat_text(due, 0, plan.index, n, self.pad)
            client.send_chat(room, text, f"{plan.user_id[-40:]}-{n}",
                             lambda c, s, a, d=due: on_reply(c, s, a, d))
            stats.sent += 1
            n += 1
            due += interval

    async def _churn(self, m: Member) -> None:
        lo, hi = self.plan.churn_dwell
        stats, room = self.stats, m.plan.room
        while m.open and (not self.timing[1] or time.time() < self.timing[1]):
            t = time.time()
            try:
                await m.client.join(room)
                stats.churn_joins += 1
                stats.churn_join.record(int((time.time() - t) * 1e6))
                await asyncio.sleep(random.uniform(lo, hi))
                await m.client.leave(room)
                stats.churn_leaves += 1
            except RequestFailed:
                stats.churn_failed += 1
                await asyncio.sleep(1.0)
            await asyncio.sleep(random.uniform(0, lo))
        await m.client.closed


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (each connection is a descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            return soft
    return soft


async def _report_loop(worker: Worker, queue: Queue[Any]) -> None:
    last_wall, last_cpu = time.time(), time.process_time()
    while True:
        await asyncio.sleep(1.0 - (time.time() % 1.0) + 0.02)
        now, cpu = time.time(), time.process_time()
        pct = 100.0 * (cpu - last_cpu) / max(1e-6, now - last_wall)
        last_wall, last_cpu = now, cpu
        queue.put(("tick", worker.plan.worker, now, pct, worker.stats.counters(),
                   worker.stats.latency.take().to_json()))


async def _main(plan: WorkerPlan, queue: Queue[Any], go: Event, t0_box: Any, timing: Any) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, go.wait)
    worker = Worker(plan, t0_box.value, timing)
    reporter = asyncio.create_task(_report_loop(worker, queue))
    try:
        await worker.run()
    finally:
        reporter.cancel()
    stats = worker.stats
    queue.put(("done", plan.worker, time.time(), stats.counters(), stats.latency.to_json(), {
        "ack": stats.ack.to_json(), "join": stats.join.to_json(), "churn_join": stats.churn_join.to_json(),
        "room_last": worker.room_last,
    }))


def worker_main(plan: WorkerPlan, queue: Queue[Any], go: Event, t0_box: Any, timing: Any) -> None:
    """Entry point of a generator process (multiprocessing target)."""
    raise_fd_limit()
    queue.put(("ready", plan.worker))
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(_main(plan, queue, go, t0_box, timing))
    except BaseException as exc:  # tell the parent rather than vanish
        queue.put(("crashed", plan.worker, f"{type(exc).__name__}: {exc}"))
        raise
