"""A generator process of a ladder (`loadtest.session`): its members connect once and stay, and
each step sends at the rate its parent names, in the window it names, counting its own messages.

Every message's text carries the step's tag (`loadtest.clients.chat_text`), so a delivery is
counted for the step that sent it: one that arrives after its step was collected counts as late
in the next step, never in its figures. Each step has its own `Stats`; replies to a message count
in the stats of the step that sent it, whenever they come.

The parent talks over a pipe: `("step", tag, rate, start, end)`, `("status",)`,
`("collect", tag)` and `("close",)`; the process answers `("status", {...})`, `("result", {...})`
and `("closed", {...})`, and says `("joined", {...})` on its own once every member has joined or
failed.
"""

from __future__ import annotations

import asyncio
import time
from multiprocessing.connection import Connection
from typing import Any

from loadtest.clients import FRAMES, RequestFailed, chat_text
from loadtest.hdr import Histogram
from loadtest.transport import HandshakeFailed
from loadtest.worker import Member, Stats, WorkerPlan, _bump, _sleep_until, raise_fd_limit

SEND_SLICE = 0.0005  # messages due within this many seconds of each other go out together
BURST = 50  # a sender behind schedule yields to the loop after this many sends in a row, so that
# what arrives meanwhile is read (and timed) when it arrives, not after the burst


class StepWorker:
    """The members of one generator process across the steps of a ladder."""

    def __init__(self, plan: WorkerPlan, t0: float, members_per_room: int, conn: Connection) -> None:
        self.plan = plan
        self.t0 = t0
        self.per_room = members_per_room
        self.conn = conn
        self.stats = Stats()  # the current step's
        self.stats.tag = -1  # nothing is sent before the first step
        self.steps: dict[int, Stats] = {}
        self.extra: dict[int, dict[str, Any]] = {}
        self.members = [Member(m, plan, self.stats) for m in plan.members]
        self.counts = [0] * len(self.members)  # messages sent by each member (for its nonces)
        self.join_stats = Stats()
        self.closed: dict[str, int] = {}
        self.pad = "x" * max(0, plan.message_bytes - 40)
        self.sending: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    # -- connecting

    async def connect_all(self) -> None:
        await asyncio.gather(*(self._connect(i, m) for i, m in enumerate(self.members)))
        s = self.join_stats
        self.conn.send(("joined", {"connected": s.connected, "failed": dict(s.failed),
                                   "join": s.join.to_json()}))

    async def _connect(self, i: int, m: Member) -> None:
        stats = self.join_stats
        await _sleep_until(self.t0 + m.plan.connect_at)
        started = time.time()
        try:
            await m.client.connect(self.plan.connect_timeout)
            m.open = True
            seq = await m.client.join(m.plan.room)
            m.joined_at(seq)
        except HandshakeFailed as exc:
            _bump(stats.failed, "connect: " + str(exc)[:80])
            m.client.ws.abort()
            return
        except RequestFailed as exc:
            _bump(stats.failed, "join: " + exc.code)
            m.client.close()
            return
        except OSError as exc:
            _bump(stats.failed, f"connect: {type(exc).__name__}")
            return
        stats.connected += 1
        stats.join.record(int((time.time() - started) * 1e6))
        m.client.closed.add_done_callback(lambda f, m=m: self._on_closed(m, f))

    def _on_closed(self, m: Member, f: asyncio.Future[tuple[int | None, str]]) -> None:
        if not m.open:
            return
        m.open = False
        code = None if f.cancelled() else f.result()[0]
        _bump(self.closed, str(code))
        _bump(self.stats.closed, str(code))

    # -- steps

    def start_step(self, tag: int, rate: float, start: float, end: float) -> None:
        stats = Stats()
        stats.tag = tag
        self.steps[tag] = stats
        self.extra[tag] = {"lag": Histogram(), "cpu": 0.0, "frames_hit": FRAMES.hits, "frames_miss": FRAMES.misses}
        self.stats = stats
        for m in self.members:
            m.use(stats)
        self.sending = asyncio.create_task(self._send(tag, stats, rate, start, end))

    def _schedule(self, rate: float, start: float, end: float) -> list[tuple[float, int]]:
        """(due, member number) of this process's messages: message k of a room is due at
        start + k / rate and sent by the member at position k mod M of that room, so every member
        sends in turn and the room's messages are evenly spaced."""
        out: list[tuple[float, int]] = []
        if rate <= 0:
            return out
        span = end - start
        for i, m in enumerate(self.members):
            if not m.open or m.plan.churn:
                continue
            k = m.plan.index % self.per_room
            while True:
                offset = k / rate
                if offset >= span:
                    break
                out.append((start + offset, i))
                k += self.per_room
        out.sort()
        return out

    async def _send(self, tag: int, stats: Stats, rate: float, start: float, end: float) -> None:
        schedule = self._schedule(rate, start, end)
        lag = self.extra[tag]["lag"]
        await _sleep_until(start)
        cpu0 = time.process_time()
        ack_record = stats.ack.record

        def on_reply(code: str | None, seq: int | None, arrived: float, due: float) -> None:
            if code is None:
                stats.acked += 1
                ack_record(int((arrived - due) * 1e6))
            else:
                stats.rejected[code] = stats.rejected.get(code, 0) + 1

        members, counts, pad = self.members, self.counts, self.pad
        in_a_row = 0
        for due, i in schedule:
            now = time.time()
            if due - now > SEND_SLICE:
                await asyncio.sleep(due - now)
                now = time.time()
                in_a_row = 0
            elif in_a_row >= BURST:
                await asyncio.sleep(0)
                in_a_row = 0
            in_a_row += 1
            m = members[i]
            if not m.open:
                continue  # dropped by the server: counted as closed, the step fails
            n = counts[i]
            counts[i] = n + 1
            lag.record(int(max(0.0, now - due) * 1e6))
            m.client.send_chat(m.plan.room, chat_text(due, tag, m.plan.index, n, pad),
                               f"{m.plan.user_id[-40:]}-{n}",
                               lambda c, s, a, d=due: on_reply(c, s, a, d))
            stats.sent += 1
        await _sleep_until(end)
        self.extra[tag]["cpu"] = time.process_time() - cpu0

    def status(self) -> dict[str, Any]:
        """What the parent needs to know whether a step is complete or the room quiet."""
        current = self.stats
        return {
            "tag": current.tag, "sent": current.sent, "acked": current.acked,
            "rejected": sum(current.rejected.values()), "delivered": current.delivered,
            "sending": self.sending is not None and not self.sending.done(),
            "total_sent": sum(s.sent for s in self.steps.values()),
            "total_answered": sum(s.acked + sum(s.rejected.values()) for s in self.steps.values()),
            "total_acked": sum(s.acked for s in self.steps.values()),
            "total_delivered": sum(s.delivered + s.late for s in self.steps.values()),
            "open": sum(1 for m in self.members if m.open and not m.plan.churn),
            "closed": dict(self.closed),
        }

    def collect(self, tag: int) -> dict[str, Any]:
        stats = self.steps[tag]
        extra = self.extra[tag]
        return {
            "counters": stats.counters(), "latency": stats.latency.to_json(), "ack": stats.ack.to_json(),
            "lag": extra["lag"].to_json(), "cpu_seconds": extra["cpu"],
            "frames": {"hits": FRAMES.hits - extra["frames_hit"], "misses": FRAMES.misses - extra["frames_miss"]},
        }

    async def close(self) -> None:
        if self.sending is not None:
            self.sending.cancel()
        for m in self.members:
            if m.open:
                m.open = False
                m.client.close()
        await asyncio.sleep(0.2)  # let the close frames go out

    # -- the parent's commands

    def on_command(self, command: tuple[Any, ...]) -> None:
        kind = command[0]
        if kind == "step":
            _, tag, rate, start, end = command
            self.start_step(tag, rate, start, end)
        elif kind == "status":
            self.conn.send(("status", self.status()))
        elif kind == "collect":
            self.conn.send(("result", self.collect(command[1])))
        elif kind == "close":
            self.done.set()


async def _main(plan: WorkerPlan, conn: Connection, t0: float, members_per_room: int) -> None:
    loop = asyncio.get_running_loop()
    worker = StepWorker(plan, t0, members_per_room, conn)

    def readable() -> None:
        try:
            while conn.poll():
                worker.on_command(conn.recv())
        except (EOFError, OSError):
            worker.done.set()  # the parent went away

    loop.add_reader(conn.fileno(), readable)
    connecting = asyncio.create_task(worker.connect_all())
    await worker.done.wait()
    loop.remove_reader(conn.fileno())
    connecting.cancel()
    await worker.close()
    try:
        conn.send(("closed", {"closed": worker.closed}))
    except OSError:
        pass


def step_worker_main(plan: WorkerPlan, conn: Connection, t0: float, members_per_room: int) -> None:
    """Entry point of a ladder's generator process (multiprocessing target)."""
    raise_fd_limit()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(_main(plan, conn, t0, members_per_room))
    except BaseException as exc:  # tell the parent rather than vanish
        try:
            conn.send(("crashed", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        raise
