"""What `make bench` writes: docs/benchmarks.md, the README's performance block and the HTML page,
from one run's results (`Run`). The method and its limits are stated here, beside the tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_mod
import json
from pathlib import Path
from typing import Any

from loadtest import bench_audience, ladder_report, report
from loadtest.ladder_report import rate_of, sustained, sustained_text
from loadtest.runner import machine_info

BOUNDS = (100.0, 250.0)
LIVE = ("live-sqlite", "live-pg")
PEERS = ("socketio", "socketio-node")
GOAL_RATE = 40.0  # the goal's scenario: 500 members x 40 msgs/s, p99 under 25 ms
GOAL_P99_MS = 25.0


@dataclasses.dataclass
class Run:
    """Everything one bench run measured, and what it could not."""

    quick: bool = False
    note: str = ""
    server_cores: str = ""
    generator_cores: str = ""
    ladders: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    cores: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    connections: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    media: dict[str, Any] | None = None
    audience: dict[str, Any] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    elapsed: float = 0.0
    measured_at: str = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    machine: dict[str, Any] = dataclasses.field(default_factory=machine_info)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: Path) -> Run:
        """The run a previous `make bench` saved (to write its documents again)."""
        return cls(**json.loads(path.read_text()))


def _step(result: dict[str, Any], rate: float) -> dict[str, Any] | None:
    return next((s for s in result["steps"] if s["rate"] == rate and s["phase"] != "overload"), None)


def _overload(result: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in result["steps"] if s["phase"] == "overload"), None)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}" if value < 10 else f"{value:,.0f}"


def headline(run: Run) -> list[str]:
    """The table of the highest rates sustained, one row per target."""
    members = next((r["config"]["members"] for r in run.ladders.values()), 500)
    lines = ["| target | highest sustained, p99 <= 100 ms | highest sustained, p99 <= 250 ms | server CPU per "
             f"delivery there (us) | p99 at {members} x {GOAL_RATE:g} msgs/s | generator CPU, highest step |",
             "|---|---|---|---|---|---|"]
    for key, label in run.labels.items():
        result = run.ladders.get(key)
        if result is None:
            lines.append(f"| {label} | not measured: {run.skipped.get(key, '?')} | | | | |")
            continue
        top = sustained(result, BOUNDS[-1])
        cost = top["server_cpu_us_per_delivery"] if top else None
        goal = _step(result, GOAL_RATE)
        goal_text = (
            _ms(goal["p99_ms"]) + " ms" + ("" if goal["lossless"] else " (lost messages)") if goal else "not reached"
        )
        gen = max((s["generator_cpu_max"] for s in result["steps"] if s["phase"] != "overload"), default=0.0)
        lines.append(f"| {label} | {sustained_text(result, BOUNDS[0])} | {sustained_text(result, BOUNDS[-1])} | "
                     f"{'-' if cost is None else f'{cost:.2f}'} | {goal_text} | {gen:.0f}% |")
    return lines


def ratios(run: Run) -> list[str]:
    """live / each peer, at the highest rates each sustains under each bound."""
    lines = ["| ratio of the highest sustained rates | p99 <= 100 ms | p99 <= 250 ms |", "|---|---|---|"]
    for lk in LIVE:
        for pk in PEERS:
            if lk in run.ladders and pk in run.ladders:
                a, b = run.ladders[lk], run.ladders[pk]
                lines.append(f"| {run.labels[lk]} / {run.labels[pk]} | {ladder_report.ratio(a, b, BOUNDS[0])} | "
                             f"{ladder_report.ratio(a, b, BOUNDS[-1])} |")
    return lines


def goals(run: Run) -> list[str]:
    """The issue's goals, each met or not, from this run's figures."""
    out = []
    node, sio = run.ladders.get("socketio-node"), run.ladders.get("socketio")
    for lk in LIVE:
        live = run.ladders.get(lk)
        if live is None:
            continue
        name = run.labels[lk]
        for bound in BOUNDS:
            mine = rate_of(live, bound)
            if node is not None:
                theirs = rate_of(node, bound)
                met = (
                    mine is not None and (theirs is None or mine > theirs) and not ladder_report.floor_only(node, bound)
                )
                floor = "; Node's is only a floor, so undecided" if ladder_report.floor_only(node, bound) else ""
                out.append(f"- {name}, p99 <= {bound:g} ms: ahead of Node.js Socket.IO ({_r(mine)} vs {_r(theirs)}"
                           f"{floor}): **{'met' if met else 'NOT met'}**")
            if sio is not None:
                theirs = rate_of(sio, bound)
                met = (mine is not None and (theirs is None or mine >= 5 * theirs)
                       and not ladder_report.floor_only(sio, bound))
                if mine and theirs:
                    how = f"{mine / theirs:.2f}x"
                else:  # a ratio to nothing: say what each sustained instead
                    how = f"{_r(mine)} vs {_r(theirs)}"
                out.append(f"- {name}, p99 <= {bound:g} ms: at least 5x python-socketio ({how}): "
                           f"**{'met' if met else 'NOT met'}**")
        goal = _step(live, GOAL_RATE)
        met = goal is not None and goal["lossless"] and goal["p99_ms"] is not None and goal["p99_ms"] < GOAL_P99_MS
        out.append(f"- {name}: p99 at 500 members x 40 msgs/s under {GOAL_P99_MS:g} ms "
                   f"({_ms(goal['p99_ms']) if goal else '-'} ms): **{'met' if met else 'NOT met'}**")
    return out


def _r(rate: float | None) -> str:
    return "no step sustained" if rate is None else f"{rate:g} msgs/s"


def overload_table(run: Run) -> list[str]:
    lines = ["| target (overload: not a capacity) | offered deliveries/s | delivered/s | p99 ms | missing | "
             "unanswered | server CPU % |", "|---|---|---|---|---|---|---|"]
    for key, result in run.ladders.items():
        s = _overload(result)
        if s:
            lines.append(f"| {run.labels[key]} | {s['offered_per_s']:,.0f} | {s['delivered_per_s']:,.0f} | "
                         f"{_ms(s['p99_ms'])} | {s['missing']:,} | {s['unanswered'] + s['rejected']:,} | "
                         f"{s['server_cpu_pct']:.0f} |")
    return lines


def markdown(run: Run, html_path: str) -> str:
    m = run.machine
    versions = {**m["versions"], **run.versions}
    out = ["# Benchmarks", ""]
    if run.note:
        out += [f"> **{run.note}**", ""]
    out += [
        "Generated by `make bench` (`python -m loadtest.bench`): every figure below was measured in one run, "
        "`live` and its peers one after the other on the same machine, with the server on one core and the "
        f"load generator on the other. The plots are in `{html_path}` (self-contained HTML). How to run your "
        "own: `python -m loadtest --help` (the chat ladder is `python -m loadtest ladder`).",
        "",
        "## Machine, versions and pinning",
        "",
        f"- Measured {run.measured_at}; the set took {run.elapsed / 60:.1f} minutes"
        f"{' (--quick)' if run.quick else ''}.",
        f"- {m['cpu']}, {m['cores']} cores, {round(m['memory_bytes'] / 2**30)} GiB, {m['os']}.",
        "- " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"- Server, its own redis-server and (PostgreSQL) its database backends pinned to core "
        f"{run.server_cores or '?'}; the load generator and the bench to core(s) {run.generator_cores or '?'}. "
        "Read back from the kernel at each target's start:",
    ]
    for key, cores in run.cores.items():
        out.append(f"  - {run.labels[key]}: " + ", ".join(f"{what} on {c}" for what, c in cores.items()))
    out += [f"- {note}" for note in run.notes]
    steps = [s for r in run.ladders.values() for s in r["steps"] if s["phase"] != "overload"]
    if steps:
        core0 = [s["others_pct"].get(run.server_cores, 0.0) for s in steps]
        core1 = [s["others_pct"].get(run.generator_cores, 0.0) for s in steps]
        out.append(
            f"- **Other work on the machine** during the steps: on the server's core {sum(core0) / len(core0):.0f}% "
            f"of it on average (up to {max(core0):.0f}%), on the generator's {sum(core1) / len(core1):.0f}% "
            f"(up to {max(core1):.0f}%); every step's own figure is in its table. Where it is high the "
            "rates below are lower bounds."
        )
    members = next((r["config"]["members"] for r in run.ladders.values()), 500)
    out += ["", "## Chat fan-out: the highest rate sustained", "",
            f"One room of {members} members, every member a sender (message k of the room is sent by member k mod "
            f"{members}), every message delivered to all {members}. A rate is *sustained* under a bound when a step at "
            "that rate lost "
            "nothing (every message acknowledged, delivered to every member exactly once, no member dropped) and "
            "its p99 send-to-delivery latency is at or under the bound. Rates are messages a second in the room; "
            f"deliveries a second are {members} times that. \"At least\" marks a rate that is a floor: the ladder's "
            "top, or the generator's limit, stopped the search there.", "", *headline(run), "", *ratios(run), "",
            "The goals (issue 14):", "", *(goals(run) or ["- not evaluated: a target is missing"]), "",
            "## Overload step", "",
            "After its search every target gets the same overload step, 1,000 msgs/s (500,000 deliveries/s "
            "offered; 320 with --quick): what a room gets when it asks more than the server can do. It is not a "
            "capacity and no ratio is taken there.", "", *overload_table(run), ""]
    for key, result in run.ladders.items():
        out += [f"## Every step: {run.labels[key]}", "",
                ladder_report.markdown_steps(result, (run.server_cores, run.generator_cores)), "",
                f"Took {result['elapsed_s']:.0f} s; members connected {len(result['sessions'])} time(s) "
                f"({', '.join(s['why'] for s in result['sessions'])}). Command: `{result['command']}`", ""]
        out += [f"- {w}" for w in result["warnings"]] + ([""] if result["warnings"] else [])
    for key, why in run.skipped.items():
        out += [f"**{run.labels.get(key, key)}: NOT measured: {why}.**", ""]
    if run.connections:
        n = run.connections[0]["summary"]["connected"]
        out += [f"## Idle connections: {n:,} members connected", "", report.markdown_table(run.connections), "",
                "Command lines:", "", "```", *[r["command"] for r in run.connections], "```", ""]
    if run.media:
        live, stock = run.media["cpu_per_subscriber"]["live"], run.media["cpu_per_subscriber"]["mediarelay"]
        ratio = f"{stock / live:.0f}x" if live and stock else "n/a"
        results = run.media["results"]
        out += [f"## Media: one 640x360 publisher at 1.2 Mbit/s; server CPU per subscriber {live}% for live's relay "
                f"({results[0]['summary']['connected']} subscribers) and {stock}% for aiortc's stock MediaRelay "
                f"({results[1]['summary']['connected']}): {ratio}", "", report.markdown_table(results), "",
                "Command lines:", "", "```", *[r["command"] for r in results], "```", ""]
    if run.audience:
        out += bench_audience.markdown(run.audience)
    out.append(NOTES)
    return "\n".join(out)


START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def readme_block(run: Run, doc: str, note: str) -> list[str]:
    lines = [START, ""]
    if note:
        lines += [f"> **{note}**", ""]
    lines += ["Chat fan-out, one room of 500 members, every member sending; the highest rate each server sustains "
              "with nothing lost (server and its Redis on one core, the load generator on the other):", "",
              "| target | p99 <= 100 ms | p99 <= 250 ms | p99 at 40 msgs/s |", "|---|---|---|---|"]
    for key, label in run.labels.items():
        result = run.ladders.get(key)
        if result is None:
            lines.append(f"| {label} | not measured | | |")
            continue
        goal = _step(result, GOAL_RATE)
        lines.append(f"| {label} | {sustained_text(result, BOUNDS[0], with_p99=False)} | "
                     f"{sustained_text(result, BOUNDS[-1], with_p99=False)} | "
                     f"{_ms(goal['p99_ms']) + ' ms' if goal else '-'} |")
    ratio_lines = [line for line in ratios(run)[2:]]
    if ratio_lines:
        lines += ["", "| ratio of the highest sustained rates | p99 <= 100 ms | p99 <= 250 ms |", "|---|---|---|",
                  *ratio_lines]
    other = []
    for r in run.connections:
        s = r["summary"]
        other.append(f"| idle connections, {run.labels.get(r['label'], r['label'])} | {s['connected']:,} connected, "
                     f"{s.get('rss_per_connection', 0) / 1024:.1f} KB RSS each |")
    if run.media:
        for r in run.media["results"]:
            s = r["summary"]
            name = {"live": "live's relay", "mediarelay": "aiortc MediaRelay (re-encodes per viewer)"}.get(
                r["label"], r["label"]
            )
            other.append(
                f"| media, {name} | {s.get('server_cpu_per_subscriber')}% of a core per 640x360 "
                f"subscriber ({s['connected']} subscribers, {s['fps_avg']:g} fps, loss {s['loss_pct_avg']:g}%) |"
            )
    if run.audience:
        other += bench_audience.readme_rows(run.audience)
    if other:
        lines += ["", "| scenario | figure |", "|---|---|", *other]
    lines += ["", f"Measured by `make bench` on a 2-core machine; method, every step and the limits: [{doc}]({doc}).",
              "", END]
    return lines


def update_readme(path: Path, run: Run, doc: str, note: str = "") -> None:
    if not path.exists():
        return
    text = path.read_text()
    if START not in text or END not in text:
        return
    before, rest = text.split(START, 1)
    path.write_text(before + "\n".join(readme_block(run, doc, note)) + rest.split(END, 1)[1])


def html(run: Run) -> str:
    esc = html_mod.escape
    notes = "".join(f"<p>{esc(n)}</p>" for n in ([run.note] if run.note else []) + run.notes)
    parts = [ladder_report.page("live benchmarks: chat ladders", list(run.ladders.values()), notes)]
    extra = []
    if run.connections:
        extra.append(("Idle connections", run.connections, ""))
    if run.media:
        extra.append(("Media", run.media["results"], ""))
    if extra:
        body = report.page("live benchmarks: connections and media", extra)
        parts.append(body[body.index("<body>") + len("<body>"):])
        parts[0] = parts[0].replace("</body></html>", "")
    return "\n".join(parts)


NOTES = """## Method

- **Pinning.** The server under test, the redis-server the bench starts for it and, for `live` on
  PostgreSQL, the backend processes serving its database are pinned to the first core
  (`sched_setaffinity`, inherited by every thread they start); the load generator's processes and
  the bench itself to the other core(s), one generator process per core. The PostgreSQL server's
  shared background processes (WAL writer, checkpointer) are not pinned. Each target gets a fresh
  server and Redis, started before its runs and stopped after them (and started afresh for its
  ladder after the connections and media runs), so no run inherits another's state.
- **The ladder** (`python -m loadtest ladder`, `loadtest/search.py`). The 500 members connect once
  (then a 3 s warm-up step, not reported, so that a fresh process's first queries are not part of
  the first step). Coarse: 20 msgs/s, then doubling while the 250 ms bound is sustained, stopping
  at the first step that is not (the target is never pushed further). Fine: two geometric
  bisections under each bound between the highest rate sustained and the lowest that was not, so
  each rate found is within about 19% (2^(1/4)) of the target's limit on this machine. 40 msgs/s,
  the goal's scenario, is a coarse step of every target.
- **A step** lasts long enough for 400 messages, between 6 and 12 s (so every p99 is taken over at
  least 120,000 deliveries). After its last send it waits (up to 5 s) until every message is
  answered and delivered; what has not arrived then is missing. Each message carries its step's
  tag, so a late delivery of an earlier step never counts in a later one.
- **After a step that failed** the next one waits until the server has answered everything and
  deliveries have stopped (up to 30 s); a server that does not catch up is restarted and the
  members connect again (the step tables say how often).
- **Server CPU per delivery** is the CPU time of the server, its Redis and (PostgreSQL) its
  database backends from a step's first send to its last delivery, over the deliveries.
- **The generator** decodes each distinct frame once per process (a room's members receive the same
  bytes) and only accounts it per member: about 0.5 us per delivery. A generator process above 90%
  of its core over a step, or sending more than 20 ms behind its schedule at p99, is at its limit:
  that step says so, and a rate it capped is reported as "at least". The generator's CPU is in
  every step's table.
- **Other work on the cores**: per step, the busy time of the server's core less the server's own
  processes, and of the generator's core(s) less the generator's. The machine is shared; where that
  is high, a step's figures are lower bounds.
- **How long**: the whole set takes about 11 minutes on this 2-core machine (the first lines above
  say how long this run took): each chat target's ladder 1.5 to 2.5 minutes (its table says), each
  idle-connections run about a minute, the media runs half a minute. `--only TARGET` and
  `--skip connections|media` run a part; `--render` writes the documents again from the last run's
  results (`var/bench/run.json`) without measuring.
- **Latency** runs from the time a message was *meant* to be sent (its text starts with it) to its
  arrival at each member, so a generator that falls behind shows as latency instead of hiding it.
  Percentiles come from a log-linear histogram with under 1.6% error at any magnitude.
- **The peers do less per message than `live`**: no database row, no membership, sanction or
  rate-limit checks. Each allocates `seq` and appends to a capped Redis stream in one Lua script and
  emits to the room through its Redis adapter: python-socketio's `AsyncRedisManager`
  (`loadtest/peers/socketio_server.py`) and Node.js Socket.IO 4 with `@socket.io/redis-adapter`
  (`loadtest/peers/socketio-node/`, its packages installed by `npm ci` from the lock). Both speak
  JSON; `live` is measured with its MessagePack subprotocol. One generator drives all of them.
- **Connections**: RSS per connection is (RSS while holding, minus before) / connections, counting
  the server process and its Redis (`live` subscribes a Redis channel per connected user); idle CPU
  is their average while every connection is held. Members are connected, not joined.
- **Media**: one 640x360 publisher held at 1.2 Mbit/s, and subscribers that count RTP where it
  arrives instead of decoding it (`--raw`, `loadtest/raw_viewer.py`: a real aiortc peer until its
  transport is up, then no SRTP decrypt, jitter buffer, NACK or PLI, so one generator core holds
  hundreds). `live` gets 200 of them; the stock-`MediaRelay`
  peer (`loadtest/peers/mediarelay_server.py`: one decode, then one VP8 encode per viewer, held at
  the same 1.2 Mbit/s, pinned like the chat servers) gets 3, as each costs it about a quarter of a
  core. The figure to compare is server CPU per subscriber. Packet loss is the share of the video
  packets numbered in the measured window that did not arrive on the video stream (before any
  retransmission).

## What limits the figures (profiles)

Sampled with py-spy (`py-spy record -p PID` during a run; the bench extra installs it):

- **Fan-out, per delivery.** Deliveries put the same batch (encoded, and framed once per encoding:
  `live/frames.py`) in each member's outbox and mark it; the node's flusher writes every marked
  outbox as one frame through the server's synchronous write (`live/signaling/wire.py`, the
  `live.send_now` ASGI extension), with no task switch per recipient; a backlog that is one batch
  alone is written as that batch's own frame, the same bytes for every member. While messages keep
  coming flushes are at least `LIVE_WRITE_INTERVAL_MS` (20 ms) apart, so a busy room's messages
  share frames.
- **Chat appends** in one room are ordered by the room's row lock; the appends that arrive while
  one is stored share the next transaction and one publish (group commit, `live/chat/appends.py`).
  With every member sending, each message is also a different user's: its membership, sanctions
  and rate limit are checked per message.
- **Joins** cost about 10 ms of server CPU each on PostgreSQL, mostly in database round trips
  through the ORM; joins arriving together share their reads (`live/coalesce.py`).
- **Connections** hold what the idle-connections row gives (RSS each, at 10,000): uvicorn's
  protocol object, the websockets parser, the connection task's coroutine frames and the Redis
  subscription of the user's channel.
"""
