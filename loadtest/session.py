"""The parent's side of a ladder: generator processes whose members connect once and stay while
the ladder runs step after step (`loadtest.stepper` is the processes' side).

A step sends at one rate for one window; when the window closes the session waits, up to a cap,
until every message is answered and delivered to every member (a sustained step needs well under a
second), then collects each process's counts for that step alone. Meanwhile it measures the server
(its processes' CPU time over the window, read from /proc at both ends, and per delivery), the
generator (each process's CPU over the window and how late it sent), and every core's load, so that
other work on the machine shows beside the figures it may have moved.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from loadtest import procstat
from loadtest.hdr import Histogram
from loadtest.runner import _sum_counters
from loadtest.stepper import step_worker_main
from loadtest.worker import MemberPlan, WorkerPlan

# A generator process above this much of its core over a step's window, or sending later than
# LAG_BOUND_MS at p99, is at its limit: the step's figures may be the generator's, not the server's.
GENERATOR_BOUND_CPU = 90.0
LAG_BOUND_MS = 20.0


class SessionError(RuntimeError):
    """The generator processes could not start, connect their members or answer in time."""


@dataclasses.dataclass
class SessionSpec:
    target: str  # live | socketio
    rooms: int
    members_per_room: int
    processes: int
    encoding: str = "msgpack"
    message_bytes: int = 64
    connect_timeout: float = 30.0
    ramp: float = 5.0
    generator_cores: set[int] | None = None  # pin the generator processes here


class StepSession:
    """Generator processes holding every member of a ladder, connected across its steps."""

    def __init__(self, spec: SessionSpec, members: list[MemberPlan]) -> None:
        self.spec = spec
        self.members = members
        processes = max(1, min(spec.processes, len(members)))
        self.t0 = time.time() + 2.0  # the processes take about a second to start
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for i in range(processes):
            parent, child = ctx.Pipe()
            plan = WorkerPlan(worker=i, target=spec.target, encoding=spec.encoding, members=members[i::processes],
                              message_bytes=spec.message_bytes, connect_timeout=spec.connect_timeout)
            proc = ctx.Process(target=step_worker_main, args=(plan, child, self.t0, spec.members_per_room),
                               daemon=True, name=f"loadtest-step-{i}")
            proc.start()
            if spec.generator_cores:
                try:
                    os.sched_setaffinity(proc.pid, spec.generator_cores)
                except OSError:
                    pass
            self.conns.append(parent)
            self.procs.append(proc)
        self.joined: dict[str, Any] = {}
        self.closed = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _reply(self, conn: Connection, kind: str, timeout: float) -> Any:
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            try:
                if left <= 0 or not conn.poll(left):
                    raise SessionError(f"a generator process did not answer {kind!r} within {timeout:g} s")
                got = conn.recv()
            except (EOFError, OSError):
                raise SessionError(f"a generator process ended while the session waited for {kind!r}") from None
            if got[0] == "crashed":
                raise SessionError(f"a generator process crashed: {got[1]}")
            if got[0] == kind:
                return got[1]

    def _ask(self, command: tuple[Any, ...], kind: str, timeout: float = 10.0) -> list[Any]:
        for conn in self.conns:
            try:
                conn.send(command)
            except OSError:
                raise SessionError("a generator process has ended") from None
        return [self._reply(conn, kind, timeout) for conn in self.conns]

    def open(self) -> dict[str, Any]:
        """Wait until every member has connected and joined its room, or failed."""
        timeout = self.t0 - time.time() + self.spec.ramp + self.spec.connect_timeout * 2 + 30
        parts = [self._reply(conn, "joined", timeout) for conn in self.conns]
        join = Histogram()
        for part in parts:
            join.merge(Histogram.from_json(part["join"]))
        self.joined = {"connected": sum(p["connected"] for p in parts),
                       "failed": _sum_counters([{"failed": p["failed"]} for p in parts]).get("failed", {}),
                       "join_ms": join.summary_ms(), "planned": len(self.members)}
        return self.joined

    def status(self) -> dict[str, Any]:
        parts = self._ask(("status",), "status")
        out: dict[str, Any] = _sum_counters([{k: v for k, v in p.items() if k not in ("sending", "tag")}
                                             for p in parts])
        out["sending"] = any(p["sending"] for p in parts)
        return out

    def expected(self, acked: int) -> int:
        """Deliveries owed for `acked` messages: every member of the room gets each."""
        return acked * self.spec.members_per_room

    def step(self, tag: int, rate: float, duration: float, *, drain_max: float = 5.0,
             server_pids: Sequence[int] = (), lead: float = 0.3) -> dict[str, Any]:
        """Send at `rate` messages a second in each room for `duration` seconds; the step's figures."""
        start = time.time() + lead
        end = start + duration
        for conn in self.conns:
            conn.send(("step", tag, rate, start, end))
        pids = procstat.with_children(list(server_pids))
        names = {pid: procstat.describe(pid) for pid in pids}
        _sleep_until(start)
        at_start = _snapshot(pids, self.pids)
        _sleep_until(end)
        at_end = _snapshot(pids, self.pids)
        complete = False
        drained = end
        while time.time() < end + drain_max:
            s = self.status()
            drained = time.time()
            if (not s["sending"] and s["sent"] == s["acked"] + s["rejected"]
                    and s["delivered"] >= self.expected(s["acked"])):
                complete = True
                break
            time.sleep(0.1)
        at_drain = _snapshot(pids, self.pids)
        parts = self._ask(("collect", tag), "result")
        return _step_result(tag, rate, duration, self.spec, parts, names, (at_start, at_end, at_drain),
                            complete, drained - end, self)

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until every message sent so far is answered and no delivery is still coming (after
        an overloaded step); False when that takes longer than `timeout` or members were dropped."""
        deadline = time.time() + timeout
        last, still_since = -1, time.time()
        while time.time() < deadline:
            s = self.status()
            if s["open"] < self.joined.get("connected", 0):
                return False
            if s["total_sent"] == s["total_answered"]:
                if s["total_delivered"] >= self.expected(s["total_acked"]):
                    return True
                if s["total_delivered"] == last and time.time() - still_since >= 1.0:
                    return True  # nothing more is coming: what is missing was lost (and counted)
            if s["total_delivered"] != last:
                last, still_since = s["total_delivered"], time.time()
            time.sleep(0.2)
        return False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for conn in self.conns:
            try:
                conn.send(("close",))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


def _sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)


Snapshot = tuple[float, dict[int, float], dict[int, float], dict[int, tuple[int, int, int]], float]


def _snapshot(server: list[int], generator: list[int]) -> Snapshot:
    """(time, server CPU seconds by pid, generator CPU seconds by pid, per-core jiffies, our own CPU)."""
    def cpu(pids: list[int]) -> dict[int, float]:
        out = {}
        for pid in pids:
            value = procstat.cpu_seconds(pid)
            if value is not None:
                out[pid] = value
        return out

    return time.time(), cpu(server), cpu(generator), procstat.core_jiffies(), time.process_time()


def _delta(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    return {pid: b[pid] - a[pid] for pid in b if pid in a}


def _core_load(a: Snapshot, b: Snapshot) -> dict[int, dict[str, float]]:
    """Per core over a..b: busy and stolen, % of that core."""
    out = {}
    for core, (total1, idle1, steal1) in b[3].items():
        if core not in a[3]:
            continue
        total0, idle0, steal0 = a[3][core]
        total = max(1, total1 - total0)
        out[core] = {"busy": round(100.0 * (total - (idle1 - idle0)) / total, 1),
                     "steal": round(100.0 * (steal1 - steal0) / total, 1)}
    return out


def _others(load: dict[int, dict[str, float]], ours: dict[int, float], span: float) -> dict[str, float]:
    """CPU (% of one core) that other processes used on the cores our processes were pinned to:
    the cores' busy time less ours. `ours` maps a pid to its CPU seconds over `span`."""
    groups: dict[str, tuple[set[int], float]] = {}
    for pid, seconds in ours.items():
        cores = procstat.affinity(pid)
        if not cores:
            continue  # gone since (a database backend that closed): its CPU was still counted
        key = ",".join(str(c) for c in sorted(cores))
        prev = groups.get(key, (cores, 0.0))
        groups[key] = (cores, prev[1] + seconds)
    out = {}
    for key, (cores, seconds) in groups.items():
        busy = sum(load[c]["busy"] for c in cores if c in load)
        out[key] = round(max(0.0, busy - 100.0 * seconds / max(1e-6, span)), 1)
    return out


def _step_result(tag: int, rate: float, duration: float, spec: SessionSpec, parts: list[dict[str, Any]],
                 names: dict[int, str], snaps: tuple[Snapshot, Snapshot, Snapshot], complete: bool,
                 drain: float, session: StepSession) -> dict[str, Any]:
    at_start, at_end, at_drain = snaps
    c = _sum_counters([p["counters"] for p in parts])
    latency, ack, lag = Histogram(), Histogram(), Histogram()
    for p in parts:
        latency.merge(Histogram.from_json(p["latency"]))
        ack.merge(Histogram.from_json(p["ack"]))
        lag.merge(Histogram.from_json(p["lag"]))
    span = max(1e-6, at_end[0] - at_start[0])
    whole = max(1e-6, at_drain[0] - at_start[0])
    server_window = _delta(at_start[1], at_end[1])
    server_whole = _delta(at_start[1], at_drain[1])
    gen_window = _delta(at_start[2], at_end[2])
    delivered = c.get("delivered", 0)
    rejected = sum((c.get("rejected") or {}).values())
    acked = c.get("acked", 0)
    sent = c.get("sent", 0)
    closed = sum((c.get("closed") or {}).values())
    expected = session.expected(acked)
    missing = max(0, expected - delivered)
    unanswered = max(0, sent - acked - rejected)
    gen_cpu = [round(100.0 * gen_window.get(pid, 0.0) / span, 1) for pid in session.pids]
    lag_ms = lag.summary_ms()
    load = _core_load(at_start, at_end)
    ours = {**server_window, **gen_window, os.getpid(): at_end[4] - at_start[4]}
    lossless = (missing == 0 and c.get("duplicated", 0) == 0 and unanswered == 0 and rejected == 0
                and closed == 0 and sent > 0)
    server_seconds = sum(server_whole.values())
    return {
        "tag": tag, "rate": rate, "rooms": spec.rooms, "members_per_room": spec.members_per_room,
        "duration": round(span, 2), "offered_per_s": round(rate * spec.rooms * spec.members_per_room, 1),
        "sent": sent, "acked": acked, "rejected": rejected, "unanswered": unanswered,
        "rejected_by_code": dict(sorted((c.get("rejected") or {}).items())),
        "delivered": delivered, "delivered_per_s": round(delivered / span, 1), "expected": expected,
        "missing": missing, "duplicated": c.get("duplicated", 0), "reordered": c.get("reordered", 0),
        "late": c.get("late", 0), "closed_by_server": closed, "lossless": lossless,
        "complete": complete, "drain_s": round(drain, 2),
        "latency_ms": latency.summary_ms(), "ack_ms": ack.summary_ms(), "send_lag_ms": lag_ms,
        "p99_ms": latency.summary_ms()["p99"] if latency.total else None,
        "latency": latency.to_json(),
        "server": [{"pid": pid, "name": names.get(pid, "?"), "cpu_pct": round(100.0 * sec / span, 1)}
                   for pid, sec in server_window.items()],
        "server_cpu_pct": round(100.0 * sum(server_window.values()) / span, 1),
        "server_cpu_us_per_delivery": round(server_seconds / delivered * 1e6, 2) if delivered else None,
        "server_rss": sum(procstat.rss_bytes(pid) or 0 for pid in server_whole),
        "generator_cpu_pct": gen_cpu, "generator_cpu_max": max(gen_cpu, default=0.0),
        "generator_bound": max(gen_cpu, default=0.0) >= GENERATOR_BOUND_CPU or lag_ms["p99"] >= LAG_BOUND_MS,
        "frames": _sum_counters([p["frames"] for p in parts]),
        "cores": {str(k): v for k, v in load.items()}, "others_pct": _others(load, ours, span),
        "whole_s": round(whole, 2),
    }
