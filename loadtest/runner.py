"""The parent process of a run: plans members across processes, starts the generators, prints
the progress line, samples the server, and assembles the result (one JSON document)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import sys
import time
from typing import Any

from loadtest import procstat
from loadtest.hdr import Histogram
from loadtest.worker import MemberPlan, WorkerPlan, raise_fd_limit, worker_main

CPU_WARN = 80.0  # a generator process above this (% of a core) may be the bottleneck


@dataclasses.dataclass
class RunSpec:
    """Everything a run needs once identities and rooms are settled."""

    scenario: str
    target: str  # live | socketio
    label: str
    urls: list[str]
    rooms: list[str]
    members_per_room: int
    senders_per_room: int
    rate_per_room: float  # chat messages a second in each room, all senders together
    ramp: float
    duration: float  # sending (chat, churn) or holding (connections)
    drain: float
    processes: int
    encoding: str = "msgpack"
    message_bytes: int = 64
    churners_per_room: int = 0
    churn_dwell: tuple[float, float] = (0.5, 2.0)
    join: bool = True
    shard: tuple[int, int] = (0, 1)
    server_pids: list[int] = dataclasses.field(default_factory=list)
    settle: float = 1.0
    connect_timeout: float = 15.0
    command: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


Identity = Any  # loadtest.setup.Identity or a (user_id, name, token) stand-in


def plan_members(spec: RunSpec, identity: Any) -> list[MemberPlan]:
    """This shard's members, in connect order; `identity(g)` gives member g's Identity."""
    rooms, per_room = len(spec.rooms), spec.members_per_room + spec.churners_per_room
    shard, shards = spec.shard
    total = rooms * per_room
    mine = total // shards + (1 if shard < total % shards else 0)
    plans: list[MemberPlan] = []
    position = 0
    for j in range(per_room):
        for r in range(rooms):
            g = r * per_room + j
            if g % shards != shard:
                continue
            ident = identity(g)
            sender = j < spec.senders_per_room and spec.rate_per_room > 0
            rate = spec.rate_per_room / spec.senders_per_room if sender else 0.0
            plans.append(MemberPlan(
                index=g,
                url=spec.urls[g % len(spec.urls)],
                user_id=ident.user_id,
                name=ident.name,
                token=ident.token,
                room=spec.rooms[r],
                connect_at=spec.ramp * position / max(1, mine),
                send_rate=rate,
                send_phase=(j / spec.senders_per_room) / rate if sender else 0.0,
                churn=j >= spec.members_per_room,
            ))
            position += 1
    return plans


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal"):
                    mem = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    from importlib import metadata

    for pkg in ("live", "websockets", "uvicorn", "uvloop", "redis", "msgpack", "python-socketio",
                "python-engineio", "aiortc"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {"host": platform.node(), "os": f"{platform.system()} {platform.release()}", "cpu": cpu,
            "cores": os.cpu_count(), "memory_bytes": mem, "versions": versions}


class Progress:
    """The once-a-second status line on stderr (rewritten in place on a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.width = 0

    def line(self, text: str) -> None:
        if self.tty:
            sys.stderr.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def loud(self, text: str) -> None:
        if self.tty and self.width:
            sys.stderr.write("\n")
            self.width = 0
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _sum_counters(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for counters in items:
        for key, value in counters.items():
            if isinstance(value, dict):
                table = out.setdefault(key, {})
                for k, v in value.items():
                    table[k] = table.get(k, 0) + v
            else:
                out[key] = out.get(key, 0) + value
    return out


def run(spec: RunSpec, members: list[MemberPlan], quiet: bool = False) -> dict[str, Any]:
    """Run the generator processes over `members` and return the result document."""
    raise_fd_limit()
    progress = Progress()
    processes = max(1, min(spec.processes, len(members) or 1))
    plans = [
        WorkerPlan(
            worker=i, target=spec.target, encoding=spec.encoding, members=members[i::processes],
            message_bytes=spec.message_bytes,
            join=spec.join, churn_dwell=spec.churn_dwell, connect_timeout=spec.connect_timeout,
        )
        for i in range(processes)
    ]
    ctx = mp.get_context("spawn")
    q: Any = ctx.Queue()
    go = ctx.Event()
    t0_box = ctx.Value("d", 0.0)
    timing = ctx.Array("d", 3)  # send start, send end, end: named once every member has settled
    procs = [ctx.Process(target=worker_main, args=(p, q, go, t0_box, timing), daemon=True,
                         name=f"loadtest-{p.worker}")
             for p in plans]
    for p in procs:
        p.start()
    ready: set[int] = set()
    deadline = time.time() + 60
    while len(ready) < processes:
        try:
            msg = q.get(timeout=max(0.1, deadline - time.time()))
        except queue_mod.Empty:
            raise RuntimeError("generator processes did not start within 60 s") from None
        if msg[0] == "ready":
            ready.add(msg[1])
        elif msg[0] == "crashed":
            raise RuntimeError(f"generator process {msg[1]} crashed: {msg[2]}")

    sampler = procstat.Sampler(spec.server_pids)
    baseline = sampler.sample()  # primes the CPU counters
    time.sleep(0.5)
    baseline = sampler.sample()
    rss_before = sum(rss for _, rss in baseline.values())

    t0 = time.time() + 0.5
    t0_box.value = t0
    go.set()
    # Sending starts --settle seconds after every member has joined or failed (or, at the latest,
    # once the slowest could have timed out), so the join storm is not part of what is measured.
    ramp_end = t0 + spec.ramp
    settle_cap = ramp_end + spec.connect_timeout + 1.0
    send_start = send_end = end = 0.0
    settled_at: float | None = None

    latest: dict[int, dict[str, Any]] = {}
    gen_cpu: dict[int, list[tuple[float, float]]] = {i: [] for i in range(processes)}
    total = Histogram()
    second_hist: dict[int, Histogram] = {}
    timeline: list[dict[str, Any]] = []
    finals: dict[int, tuple[Any, ...]] = {}
    warnings: list[str] = []
    warned: set[int] = set()
    crashed: list[str] = []
    next_tick = t0 + 1.0
    server_now: dict[int, tuple[float, int]] = {}
    while len(finals) + len(crashed) < processes:
        timeout = max(0.05, next_tick - time.time())
        try:
            msg = q.get(timeout=timeout)
        except queue_mod.Empty:
            msg = None
        if msg is not None:
            kind = msg[0]
            if kind == "tick":
                _, w, at, pct, counters, hist = msg
                latest[w] = counters
                gen_cpu[w].append((round(at, 3), round(pct, 1)))
                delta = Histogram.from_json(hist)
                total.merge(delta)
                second_hist.setdefault(int(at), Histogram()).merge(delta)
                if pct > CPU_WARN and send_start and send_start <= at <= send_end and w not in warned:
                    warned.add(w)
                    text = (f"!!! generator process {w} at {pct:.0f}% CPU: the generator may be the "
                            f"bottleneck; use more --processes or more machines (--shard)")
                    warnings.append(text)
                    progress.loud(text)
            elif kind == "done":
                _, w, at, counters, hist, extra = msg
                latest[w] = counters
                total.merge(Histogram.from_json(hist))
                finals[w] = (counters, extra)
            elif kind == "crashed":
                crashed.append(f"process {msg[1]}: {msg[2]}")
                progress.loud(f"!!! generator process {msg[1]} crashed: {msg[2]}")
        if not send_start and time.time() >= ramp_end:
            agg = _sum_counters(list(latest.values()))
            done = agg.get("connected", 0) + sum((agg.get("failed") or {}).values())
            if done >= len(members) or time.time() >= settle_cap:
                settled_at = time.time()
                send_start = settled_at + spec.settle
                send_end = send_start + spec.duration
                end = send_end + spec.drain
                timing[0], timing[1], timing[2] = send_start, send_end, end
        if time.time() >= next_tick:
            now = time.time()
            next_tick += 1.0
            server_now = sampler.sample()
            agg = _sum_counters(list(latest.values()))
            point = {
                "t": round(now, 3),
                "connected": agg.get("connected", 0),
                "sent": agg.get("sent", 0),
                "acked": agg.get("acked", 0),
                "delivered": agg.get("delivered", 0),
                "failed": sum((agg.get("failed") or {}).values()),
                "closed": sum((agg.get("closed") or {}).values()),
                "server_cpu": round(sum(c for c, _ in server_now.values()), 1),
                "server_rss": sum(r for _, r in server_now.values()),
                # Everything running on this machine (% of one core), and CPU stolen by the host:
                # what else competed with the server and the generator.
                "machine_cpu": sampler.machine[0],
                "steal": sampler.machine[1],
                "generator_cpu": [gen_cpu[w][-1][1] if gen_cpu[w] else 0.0 for w in range(processes)],
            }
            prev = timeline[-1] if timeline else None
            rate = (point["delivered"] - prev["delivered"]) / max(1e-6, now - prev["t"]) if prev else 0.0
            sec = second_hist.pop(int(now) - 1, None)
            point["delivered_per_s"] = round(rate, 1)
            if sec is not None and sec.total:
                point["p50_ms"] = round(sec.percentile(50) / 1000, 3)
                point["p99_ms"] = round(sec.percentile(99) / 1000, 3)
            timeline.append(point)
            if not quiet:
                progress.line(_progress_text(spec, now - t0, point, total, members))
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    progress.done()
    if crashed:
        warnings.extend(f"generator {c}" for c in crashed)

    counters = _sum_counters([f[0] for f in finals.values()])
    extras = [f[1] for f in finals.values()]
    hists = {name: Histogram() for name in ("ack", "join", "churn_join")}
    room_last: dict[str, int] = {}
    for extra in extras:
        for name, h in hists.items():
            h.merge(Histogram.from_json(extra[name]))
        for room, seq in extra["room_last"].items():
            room_last[room] = max(room_last.get(room, 0), seq)

    result: dict[str, Any] = {
        "tool": "loadtest",
        "format": 1,
        "scenario": spec.scenario,
        "target": spec.target,
        "label": spec.label,
        "command": spec.command,
        "started_at": dt.datetime.fromtimestamp(t0, dt.UTC).isoformat(timespec="seconds"),
        "shards": [f"{spec.shard[0]}/{spec.shard[1]}"],
        "machine": machine_info(),
        "config": {
            "urls": spec.urls, "rooms": spec.rooms, "members_per_room": spec.members_per_room,
            "senders_per_room": spec.senders_per_room, "rate_per_room": spec.rate_per_room,
            "ramp": spec.ramp, "duration": spec.duration, "drain": spec.drain, "settle": spec.settle,
            "processes": processes, "encoding": spec.encoding if spec.target == "live" else "json",
            "message_bytes": spec.message_bytes, "churners_per_room": spec.churners_per_room,
            "churn_dwell": list(spec.churn_dwell), "join": spec.join, **spec.extra,
        },
        "windows": {"t0": t0, "send_start": send_start, "send_end": send_end, "end": end,
                    "settled": settled_at},
        "members_planned": len(members),
        "counters": counters,
        "room_last_seq": room_last,
        "latency": total.to_json(),
        "ack": hists["ack"].to_json(),
        "join": hists["join"].to_json(),
        "churn_join": hists["churn_join"].to_json(),
        "timeline": timeline,
        "generator": {"processes": processes,
                      "cpu": {str(w): samples for w, samples in gen_cpu.items()}},
        "server": {"rss_before": rss_before, "processes": sampler.to_json()},
        "warnings": warnings,
    }
    return summarize(result)


def _progress_text(spec: RunSpec, elapsed: float, point: dict[str, Any], total: Histogram,
                   members: list[MemberPlan]) -> str:
    gens = " ".join(f"{c:.0f}%" for c in point["generator_cpu"])
    p99 = point.get("p99_ms")
    text = (f"[{elapsed:5.0f}s] {spec.target} {spec.scenario} | conn {point['connected']}/{len(members)}"
            f" fail {point['failed']} | sent {point['sent']} ack {point['acked']}"
            f" | deliv {point['delivered']} ({point['delivered_per_s']:.0f}/s)"
            f" | p99 {p99 if p99 is not None else '-'} ms | gen cpu {gens}"
            f" | server cpu {point['server_cpu']:.0f}% rss {point['server_rss'] / 1e6:.0f} MB")
    return text


def _within(samples: list[Any], lo: float, hi: float) -> list[Any]:
    return [s for s in samples if lo <= s[0] <= hi]


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Derive the headline figures from the raw parts (used again after `merge`)."""
    if result.get("scenario") == "media":
        return result  # summarised where it is measured (loadtest.media)
    c = result["counters"]
    w = result["windows"]
    duration = max(1e-6, w["send_end"] - w["send_start"])
    latency = Histogram.from_json(result["latency"])
    delivered = c.get("delivered", 0)
    summary: dict[str, Any] = {
        "connected": c.get("connected", 0),
        "failed": sum((c.get("failed") or {}).values()),
        "closed_by_server": sum((c.get("closed") or {}).values()),
        "sent": c.get("sent", 0),
        "acked": c.get("acked", 0),
        "rejected": sum((c.get("rejected") or {}).values()),
        "unanswered": max(0, c.get("sent", 0) - c.get("acked", 0) - sum((c.get("rejected") or {}).values())),
        "delivered": delivered,
        "missing": c.get("missing", 0),
        "duplicated": c.get("duplicated", 0),
        "reordered": c.get("reordered", 0),
        "sent_per_s": round(c.get("sent", 0) / duration, 1),
        "delivered_per_s": round(delivered / duration, 1),
        "delivery_ratio": round(delivered / (delivered + c.get("missing", 0)), 6) if delivered else 0.0,
        "latency_ms": latency.summary_ms(),
        "ack_ms": Histogram.from_json(result["ack"]).summary_ms(),
        "join_ms": Histogram.from_json(result["join"]).summary_ms(),
    }
    if c.get("churn_joins"):
        summary["churn"] = {"joins": c.get("churn_joins", 0), "leaves": c.get("churn_leaves", 0),
                            "failed": c.get("churn_failed", 0),
                            "joins_per_s": round(c.get("churn_joins", 0) / duration, 1),
                            "join_ms": Histogram.from_json(result["churn_join"]).summary_ms()}
    # Server: per process over the sending (or holding) window.
    servers = []
    total_rss_held = 0
    total_cpu = 0.0
    for proc in result["server"]["processes"]:
        window = _within(proc["samples"], w["send_start"] + 0.5, w["send_end"])
        if not window:
            window = proc["samples"]
        if not window:
            continue
        cpus = [s[1] for s in window]
        rsss = sorted(s[2] for s in window)
        entry = {"pid": proc["pid"], "name": proc["name"], "cpu_avg": round(sum(cpus) / len(cpus), 1),
                 "cpu_max": round(max(cpus), 1), "rss_max": max(s[2] for s in proc["samples"]),
                 "rss_median": rsss[len(rsss) // 2]}
        total_rss_held += entry["rss_median"]
        total_cpu += entry["cpu_avg"]
        servers.append(entry)
    summary["server"] = servers
    summary["server_cpu_avg"] = round(total_cpu, 1)
    if servers and result["scenario"] == "connections":
        before = result["server"].get("rss_before") or 0
        connected = max(1, summary["connected"])
        summary["rss_per_connection"] = round((total_rss_held - before) / connected)
        summary["idle_cpu"] = round(total_cpu, 1)
    gens = []
    for samples in result["generator"]["cpu"].values():
        window = _within(samples, w["send_start"] + 0.5, w["send_end"]) or samples
        if window:
            gens.append(max(s[1] for s in window))
    summary["generator_cpu_max"] = round(max(gens), 1) if gens else 0.0
    # Other work on the machine during the window: all CPU use minus the server's and ours.
    points = [p for p in result["timeline"] if "machine_cpu" in p
              and w["send_start"] + 0.5 <= p["t"] <= w["send_end"]]
    if points:
        machine = sum(p["machine_cpu"] for p in points) / len(points)
        generator = sum(sum(p["generator_cpu"]) for p in points) / len(points)
        summary["machine_cpu_avg"] = round(machine, 1)
        summary["other_cpu_avg"] = round(max(0.0, machine - generator - summary["server_cpu_avg"]), 1)
        summary["steal_avg"] = round(sum(p.get("steal", 0) for p in points) / len(points), 1)
    result["summary"] = summary
    return result
