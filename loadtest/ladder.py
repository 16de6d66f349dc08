"""`python -m loadtest ladder`: the highest chat rate a server sustains, found step by step.

One room (or R) of M members, every member a sender: the members connect once and stay, then the
rate (messages a second in each room, all members together, each sending in turn) climbs step by
step as `loadtest.search` decides, coarse then fine, each step long enough for a stable p99. After
a step that failed, the session waits until the server has caught up before the next one; if it
does not catch up in time (or dropped members), the members connect again (and, under `make bench`,
the server is restarted first). The search over, an *overload* step runs at a fixed rate past what
most servers sustain, reported as such: what users get when a room asks too much.

The result is one JSON document: every step (sent, acked, delivered, missing, duplicated, latency
percentiles, server CPU and per delivery, generator CPU and lateness, each core's load) and, per
latency bound, the highest rate sustained.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

from loadtest.runner import RunSpec, machine_info, plan_members
from loadtest.search import Outcome, Search
from loadtest.session import SessionSpec, StepSession
from loadtest.setup import HostsInRooms, Identities, Identity, SetupError, create_rooms, end_lives, join_community

Log = Callable[[str], None]


@dataclasses.dataclass
class LadderSpec:
    """What a ladder runs against and how it climbs."""

    target: str  # live | socketio
    label: str
    url: str
    secret: str | None = None  # live: tokens are minted with it
    rooms: int = 1
    members: int = 500
    processes: int = 1
    encoding: str = "msgpack"
    message_bytes: int = 64
    start: float = 20.0
    factor: float = 2.0
    fine_steps: int = 2
    bounds: tuple[float, ...] = (100.0, 250.0)
    floor: float = 1.0
    ceiling: float = 5000.0
    step_messages: int = 400  # a step lasts long enough to send this many messages in a room...
    step_min: float = 6.0  # ...but at least this long
    step_max: float = 15.0  # ...and at most this long
    drain_max: float = 5.0
    quiet_timeout: float = 30.0
    overload: float | None = 1000.0  # msgs/s per room of the overload step; None: no overload step
    warmup_rate: float = 20.0
    warmup_seconds: float = 3.0
    ramp: float | None = None  # default: members / 100 seconds, at least 2
    connect_timeout: float = 30.0
    generator_cores: set[int] | None = None
    command: str = ""

    def step_seconds(self, rate: float) -> float:
        return round(min(self.step_max, max(self.step_min, self.step_messages / max(rate, 1e-6))), 1)


class LadderTarget:
    """Opens sessions against one server: its rooms, its members, connected and warmed up."""

    def __init__(self, spec: LadderSpec, log: Log) -> None:
        self.spec = spec
        self.log = log
        self.prefix = f"ld{secrets.token_hex(3)}"
        self.opened = 0
        self.hosts: list[Identity] = []
        self.hosting = HostsInRooms(spec.url, [])
        self.rooms: list[str] = []

    def _identities(self) -> Identities | None:
        if self.spec.target != "live":
            return None
        if not self.spec.secret:
            raise ValueError("a ladder against live needs --secret (or LIVE_SECRET)")
        return Identities(secret=self.spec.secret, prefix=f"{self.prefix}s{self.opened}")

    def open(self) -> tuple[StepSession, dict[str, Any]]:
        """New rooms, every member connected and joined, a short warm-up step sent (not reported)."""
        spec = self.spec
        self.opened += 1
        ids = self._identities()
        run = RunSpec(scenario="ladder", target=spec.target, label=spec.label, urls=[spec.url],
                      rooms=[f"#{r}" for r in range(spec.rooms)], members_per_room=spec.members,
                      senders_per_room=spec.members, rate_per_room=1.0, ramp=self._ramp(), duration=0,
                      drain=0, processes=spec.processes)
        if ids is None:
            rooms = [f"{self.prefix}-{self.opened}-room{r}" for r in range(spec.rooms)]
            members = plan_members(run, lambda g: Identity(f"{self.prefix}-{self.opened}-m{g}",
                                                           f"{self.prefix}-m{g}", ""))
        else:
            owner = ids.get(0, "owner")
            hosts = [owner] + [ids.get(r, "host") for r in range(1, spec.rooms)]
            title = f"loadtest ladder {time.strftime('%H:%M:%S')} {secrets.token_hex(2)}"
            cid, rooms = asyncio.run(create_rooms(spec.url, owner, hosts, title))
            self.hosts, self.rooms = hosts, rooms
            # In their rooms for the whole session: a live whose host never connects ends after
            # LIVE_GRACE_SECONDS, and every later step would be refused (`conflict`).
            self.hosting = HostsInRooms(spec.url, list(zip(hosts, rooms, strict=True)))
            self.hosting.start()
            members = plan_members(run, ids.get)
            outcome = asyncio.run(join_community(spec.url, cid, [ids.get(m.index) for m in members]))
            if outcome.get("ok", 0) != len(members):
                raise SetupError(f"members joining the community: {outcome}")
        for m in members:
            m.room = rooms[int(m.room[1:])]
        session = StepSession(SessionSpec(
            target=spec.target, rooms=spec.rooms, members_per_room=spec.members, processes=spec.processes,
            encoding=spec.encoding, message_bytes=spec.message_bytes, connect_timeout=spec.connect_timeout,
            ramp=self._ramp(), generator_cores=spec.generator_cores), members)
        try:
            joined = session.open()
            if joined["connected"] < len(members):
                raise SetupError(f"{len(members) - joined['connected']} of {len(members)} members could not "
                                 f"connect and join: {joined['failed']}")
            if spec.warmup_seconds > 0:
                session.step(0, spec.warmup_rate, spec.warmup_seconds, drain_max=spec.drain_max)
                session.wait_quiet(spec.quiet_timeout)
        except BaseException:
            session.close()
            self.close()
            raise
        return session, joined

    def _ramp(self) -> float:
        return self.spec.ramp if self.spec.ramp is not None else max(2.0, self.spec.members * self.spec.rooms / 100)

    def close(self) -> None:
        """End the lives this target's last session went live with (best effort)."""
        self.hosting.stop()
        self.hosting = HostsInRooms(self.spec.url, [])
        if self.hosts:
            asyncio.run(end_lives(self.spec.url, self.hosts, self.rooms))
            self.hosts, self.rooms = [], []


def outcome_of(step: dict[str, Any]) -> Outcome:
    p99 = step["p99_ms"]
    return Outcome(step["rate"], bool(step["lossless"]), float("inf") if p99 is None else float(p99),
                   bool(step["generator_bound"]))


def run_ladder(spec: LadderSpec, *, server_pids: Callable[[], list[int]] = list,
               restart: Callable[[], None] | None = None, log: Log | None = None) -> dict[str, Any]:
    """Run the search (then the overload step) against one server; the result document.

    `server_pids()` names the processes to measure at each step (they may change: a database's
    backends); `restart()`, when given, restarts the server after a step it did not recover from."""
    say: Log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    started = time.time()
    search = Search(start=spec.start, factor=spec.factor, bounds=spec.bounds, fine_steps=spec.fine_steps,
                    floor=spec.floor, ceiling=spec.ceiling)
    target = LadderTarget(spec, say)
    steps: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    warnings: list[str] = []
    tag = 0
    session: StepSession | None = None

    def reopen(why: str) -> StepSession:
        nonlocal session
        if session is not None:
            session.close()
            target.close()
            session = None
            if restart is not None:
                say(f"  {spec.label}: {why}; restarting the server")
                restart()
            else:
                say(f"  {spec.label}: {why}; connecting the members again")
        opened_at = time.time()
        session, joined = target.open()
        sessions.append({**joined, "why": why, "seconds": round(time.time() - opened_at, 1)})
        say(f"  {spec.label}: {joined['connected']} members connected and joined "
            f"(join p99 {joined['join_ms']['p99']:.0f} ms)")
        return session

    def one(rate: float, phase: str) -> dict[str, Any]:
        nonlocal tag
        assert session is not None
        tag += 1
        step = session.step(tag, rate, spec.step_seconds(rate), drain_max=spec.drain_max, server_pids=server_pids())
        step["phase"] = phase
        steps.append(step)
        say(_line(spec.label, step, spec.bounds))
        if step["generator_bound"]:
            others = ", ".join(f"{v:.0f}% on core(s) {k}" for k, v in step["others_pct"].items())
            warnings.append(
                f"!!! {spec.label} at {rate:g} msgs/s: the generator fell behind ({step['generator_cpu_max']:.0f}% "
                f"of its core, sending {step['send_lag_ms']['p99']:.1f} ms late at p99; other work: "
                f"{others or 'unknown'}): this step's figures may be the generator's, not the server's"
            )
            say(warnings[-1])
        return step

    try:
        reopen("start")
        while (nxt := search.next_rate()) is not None:
            rate, phase = nxt
            assert session is not None
            step = one(rate, phase)
            search.record(outcome_of(step), phase)
            if not step["lossless"] or step["p99_ms"] is None or step["p99_ms"] > spec.bounds[-1]:
                if search.next_rate() is None and not spec.overload:
                    break
                if not session.wait_quiet(spec.quiet_timeout):
                    reopen(f"not caught up {spec.quiet_timeout:g} s after {rate:g} msgs/s")
        if spec.overload:
            assert session is not None
            one(spec.overload, "overload")
    finally:
        if session is not None:
            session.close()
        target.close()
    limits = {}
    for bound in spec.bounds:
        lim = search.limit(bound)
        limits[f"{bound:g}"] = {
            "bound_ms": bound,
            "sustained": _step_of(steps, lim.sustained),
            "failed": _step_of(steps, lim.failed),
            "capped_by_generator": lim.capped_by_generator, "capped_by_ceiling": lim.capped_by_ceiling,
        }
    return {
        "tool": "loadtest", "format": 1, "scenario": "ladder", "target": spec.target, "label": spec.label,
        "command": spec.command, "started_at": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(), "config": {k: (sorted(v) if isinstance(v, set) else v)
                                              for k, v in dataclasses.asdict(spec).items() if k != "secret"},
        "sessions": sessions, "steps": steps, "limits": limits, "warnings": warnings,
        "elapsed_s": round(time.time() - started, 1),
    }


def _step_of(steps: list[dict[str, Any]], outcome: Outcome | None) -> int | None:
    """The tag of the step behind `outcome` (the last step run at its rate)."""
    if outcome is None:
        return None
    tags = [s["tag"] for s in steps if s["rate"] == outcome.rate and s["phase"] != "overload"]
    return tags[-1] if tags else None


def _line(label: str, step: dict[str, Any], bounds: tuple[float, ...]) -> str:
    verdict = next((f"sustained <= {b:g} ms" for b in bounds if outcome_of(step).sustains(b)), "FAILED")
    if step["phase"] == "overload":
        verdict = "overload"
    p99 = step["p99_ms"]
    return (f"  {label} {step['phase']:<16} {step['rate']:>7g} msgs/s: {step['delivered_per_s']:>10,.0f} deliveries/s, "
            f"p99 {'-' if p99 is None else f'{p99:,.1f}'} ms, missing {step['missing']:,}, "
            f"unanswered {step['unanswered']:,}{_refused(step)}, server {step['server_cpu_pct']:.0f}% "
            f"({step['server_cpu_us_per_delivery'] or 0:.2f} us/delivery), generator {step['generator_cpu_max']:.0f}%"
            f" -> {verdict}")


def _refused(step: dict[str, Any]) -> str:
    codes = step.get("rejected_by_code") or {}
    return "".join(f", refused {n:,} ({code})" for code, n in codes.items())


# -- the command line --------------------------------------------------------------------------


def _bounds(value: str) -> tuple[float, ...]:
    try:
        out = tuple(sorted(float(x) for x in value.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError("expected p99 bounds in ms, e.g. 100,250") from None
    if not out or min(out) <= 0:
        raise argparse.ArgumentTypeError("bounds must be > 0")
    return out


def _span(value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in value.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected MIN:MAX seconds, e.g. 6:15") from None
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError("expected 0 < MIN <= MAX")
    return lo, hi


def _number(kind: type, minimum: float) -> Any:
    def parse(value: str) -> Any:
        try:
            v = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum:g}")
        return v

    return parse


def add_parser(sub: Any) -> None:
    """The `ladder` subcommand."""
    p = sub.add_parser(
        "ladder", help="the highest chat rate sustained: a coarse-then-fine search, every member sending",
        description="Chat capacity. M members of a room (every one a sender, in turn) connect once and stay; "
                    "the rate climbs step by step (coarse: x--factor from --start until a step fails; fine: "
                    "bisections under each bound) and the run reports, for each p99 bound, the highest rate "
                    "sustained with nothing lost (no missing, duplicated or unanswered message, no member "
                    "dropped). Then one overload step. Every step: deliveries, latency, server CPU (and per "
                    "delivery), generator CPU, other work on the machine's cores.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("target")
    g.add_argument("--url", default="http://127.0.0.1:8080", help="base URL of the server (default http://127.0.0.1:8080)")
    g.add_argument("--target", choices=("live", "socketio"), default="live",
                   help="what the URL serves: `live`, or a Socket.IO peer (loadtest/peers/) (default live)")
    g.add_argument("--secret", default=None, help="live's LIVE_SECRET, to mint tokens (default $LIVE_SECRET)")
    g.add_argument("--encoding", choices=("msgpack", "json"), default="msgpack",
                   help="live's WebSocket subprotocol (default msgpack; Socket.IO always speaks JSON)")
    g = p.add_argument_group("the room and the climb")
    g.add_argument("--rooms", type=_number(int, 1), default=1, help="rooms (default 1)")
    g.add_argument(
        "--members", type=_number(int, 2), default=500, help="members in each room, all senders (default 500)"
    )
    g.add_argument("--message-bytes", type=_number(int, 40), default=64, help="length of each text (default 64)")
    g.add_argument("--start", type=_number(float, 0.1), default=20.0, help="first rate, msgs/s per room (default 20)")
    g.add_argument("--factor", type=_number(float, 1.1), default=2.0, help="coarse step factor (default 2)")
    g.add_argument("--fine-steps", type=_number(int, 0), default=2, help="bisections under each bound (default 2)")
    g.add_argument("--bounds", type=_bounds, default=(100.0, 250.0), help="p99 bounds in ms (default 100,250)")
    g.add_argument("--ceiling", type=_number(float, 0.1), default=5000.0, help="highest rate tried (default 5000)")
    g.add_argument("--overload", type=_number(float, 0), default=1000.0,
                   help="rate of the final overload step, msgs/s per room; 0: none (default 1000)")
    g.add_argument("--step-messages", type=_number(int, 1), default=400,
                   help="a step lasts long enough for this many messages per room (default 400)...")
    g.add_argument("--step-seconds", type=_span, default=(6.0, 15.0), help="...within MIN:MAX seconds (default 6:15)")
    g.add_argument("--drain", type=_number(float, 0.1), default=5.0,
                   help="longest wait after a step for its last deliveries (default 5)")
    g.add_argument("--quiet-timeout", type=_number(float, 1), default=30.0,
                   help="after a failed step, how long the server may take to catch up before the members "
                        "connect again (default 30)")
    g.add_argument("--warmup", type=_number(float, 0), default=3.0,
                   help="seconds of an unreported warm-up step at 20 msgs/s after connecting (default 3)")
    g = p.add_argument_group("generator")
    g.add_argument("--processes", type=_number(int, 1), default=1, help="generator processes (default 1)")
    g.add_argument("--ramp", type=_number(float, 0), default=None,
                   help="seconds over which members connect (default members / 100, at least 2)")
    g.add_argument("--connect-timeout", type=_number(float, 1), default=30.0,
                   help="seconds a member may take to connect and join (default 30)")
    g = p.add_argument_group("server measurement and output")
    g.add_argument("--server-pid", type=int, action="append", metavar="PID",
                   help="a server process to measure, with its children; repeat for several "
                        "(default: the process listening on the URL's port, when local)")
    g.add_argument("--no-server-stats", action="store_true", help="do not measure any server process")
    g.add_argument("--out", metavar="FILE", help="JSON result (default var/loadtest/ladder-<target>-<time>.json)")
    g.add_argument("--html", metavar="FILE", help="HTML report (default: the --out path with .html)")
    g.add_argument("--label", help="a name for this run in tables and reports (default: target)")
    p.set_defaults(func=cmd_ladder)


def cmd_ladder(args: argparse.Namespace) -> int:
    import json
    import os
    import shlex
    from pathlib import Path

    from loadtest import ladder_report, procstat

    secret = args.secret or os.environ.get("LIVE_SECRET")
    if args.target == "live" and not secret:
        raise ValueError("give --secret (or set LIVE_SECRET) to reach a live server")
    spec = LadderSpec(
        target=args.target, label=args.label or args.target, url=args.url, secret=secret, rooms=args.rooms,
        members=args.members, processes=args.processes, encoding=args.encoding, message_bytes=args.message_bytes,
        start=args.start, factor=args.factor, fine_steps=args.fine_steps, bounds=args.bounds,
        ceiling=args.ceiling, step_messages=args.step_messages, step_min=args.step_seconds[0],
        step_max=args.step_seconds[1], drain_max=args.drain, quiet_timeout=args.quiet_timeout,
        overload=args.overload or None, warmup_seconds=args.warmup, ramp=args.ramp,
        connect_timeout=args.connect_timeout, command="python -m loadtest " + shlex.join(args.argv))
    args.url = [args.url]
    pids = procstat.server_pids(args, args.url)
    result = run_ladder(spec, server_pids=lambda: pids)
    out = Path(args.out or f"var/loadtest/ladder-{args.target}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    html = Path(args.html) if args.html else out.with_suffix(".html")
    html.write_text(ladder_report.page(f"loadtest ladder: {spec.label}", [result]))
    print(ladder_report.table(result))
    for warning in result["warnings"]:
        print(warning, file=sys.stderr)
    print(f"\nresult: {out}\nreport: {html}")
    return 0
