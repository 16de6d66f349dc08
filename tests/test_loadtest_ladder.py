"""The chat ladder: the search (pure), what the bench writes from its results, the generator's
frame cache, pinning, and a tiny ladder end to end against a real `live` server.

No figure is asserted (speed belongs to `make bench`): the search is driven by a model of a
server, and the end-to-end run checks that every step counts exactly (every acknowledged message
delivered to every member once) and that the run reports what it found.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from loadtest import bench_doc, ladder_report
from loadtest.clients import FrameCache, LiveClient, chat_text, text_stamp
from loadtest.search import Outcome, Search, nice
from tests.support.servers import SECRET, RunningServer, run_server, settings

ROOT = Path(__file__).resolve().parents[1]


# -- the search (pure) ---------------------------------------------------------------------------


def _model(rate: float) -> Outcome:
    """A server whose p99 grows with the square of the rate: 100 ms at 134 msgs/s, 250 at 212."""
    return Outcome(rate, True, 20.0 * (rate / 60.0) ** 2)


def _run(search: Search, model: Any = _model, limit: int = 50) -> list[tuple[float, str]]:
    tried = []
    while (nxt := search.next_rate()) is not None and len(tried) < limit:
        rate, phase = nxt
        tried.append((rate, phase))
        search.record(model(rate), phase)
    return tried


def test_coarse_doubles_until_a_step_fails_then_bisects_under_each_bound() -> None:
    search = Search(start=20, factor=2, bounds=(100, 250), fine_steps=2)
    assert _run(search) == [
        (20, "coarse"), (40, "coarse"), (80, "coarse"), (160, "coarse"),  # 160: p99 142 ms, still under 250
        (320, "coarse"),  # fails the loosest bound: nothing higher is tried
        (110, "fine <= 100 ms"), (130, "fine <= 100 ms"),  # between 80 and 160
        (230, "fine <= 250 ms"), (190, "fine <= 250 ms"),  # between 160 and 320
    ]
    assert search.limit(100).sustained == _model(130) and search.limit(100).failed == _model(160)
    assert search.limit(250).sustained == _model(190) and search.limit(250).failed == _model(230)
    assert not search.limit(250).capped_by_generator and not search.limit(250).capped_by_ceiling


def test_a_first_step_that_fails_walks_down_to_a_sustained_rate() -> None:
    search = Search(start=80, factor=2, bounds=(100, 250), fine_steps=1, floor=5)
    tried = _run(search, lambda r: Outcome(r, True, 400.0 if r > 12 else 50.0))
    assert tried == [(80, "coarse"), (40, "coarse"), (20, "coarse"), (10, "coarse"),
                     (14, "fine <= 100 ms"), (12, "fine <= 250 ms")]  # between 10 and 20, then 10 and 14
    assert search.limit(250).sustained == Outcome(12, True, 50.0)
    # Nothing sustained down to the floor: the search ends, and says so.
    never = Search(start=80, factor=2, floor=20)
    assert [r for r, _ in _run(never, lambda r: Outcome(r, True, 1e6))] == [80, 40, 20]
    assert never.limit(250).sustained is None and never.limit(250).failed is not None


def test_the_coarse_search_walks_down_until_the_tightest_bound_holds_too() -> None:
    search = Search(start=20, factor=2, fine_steps=1)
    # Under 250 ms from 20 to 40 msgs/s but never under 100 ms until 10 (a slow, loaded server).
    p99 = {20: 150.0, 40: 200.0, 80: 900.0, 10: 60.0}
    tried = _run(search, lambda r: Outcome(r, True, p99.get(r, 150.0 if r > 10 else 60.0)))
    assert tried == [(20, "coarse"), (40, "coarse"), (80, "coarse"), (10, "coarse"),
                     (14, "fine <= 100 ms"), (57, "fine <= 250 ms")]
    assert search.limit(100).sustained == Outcome(10, True, 60.0)
    assert search.limit(100).failed == Outcome(14, True, 150.0)


def test_a_lossy_step_fails_whatever_its_latency() -> None:
    search = Search(start=20, fine_steps=0)
    _run(search, lambda r: Outcome(r, r < 70, 5.0))  # loses messages from 70 msgs/s on, fast or not
    assert search.limit(100).sustained == Outcome(40, True, 5.0)
    assert search.limit(100).failed == Outcome(80, False, 5.0)


def test_floors_are_named_the_ladders_top_or_the_generators_limit() -> None:
    top = Search(start=20, ceiling=100)
    assert [r for r, _ in _run(top)] == [20, 40, 80]  # 160 would pass the ceiling
    assert top.limit(250).capped_by_ceiling and top.limit(250).failed is None
    behind = Search(start=20, fine_steps=0)
    _run(behind, lambda r: Outcome(r, True, 30.0 if r < 100 else 900.0, generator_bound=r >= 100))
    assert behind.limit(250).capped_by_generator and behind.limit(250).sustained == Outcome(80, True, 30.0)


def test_a_step_sustained_above_one_that_failed_still_counts() -> None:
    search = Search(start=20)
    for rate, p99 in ((20, 10.0), (40, 400.0), (28, 50.0), (34, 300.0), (38, 90.0)):  # 34: a noisy machine
        search.record(Outcome(rate, True, p99), "coarse")
    assert search.limit(250).sustained == Outcome(38, True, 90.0)
    assert search.limit(250).failed == Outcome(40, True, 400.0)


def test_rates_read_well_and_bad_settings_are_refused() -> None:
    assert [nice(x) for x in (226.27, 113.1, 0.04, 1234.5, 57.0)] == [230, 110, 0.1, 1200, 57]
    assert nice(226.27, 3) == 226
    for bad in ({"start": 0}, {"start": 10, "factor": 1}, {"start": 10, "bounds": ()}, {"start": 10, "ceiling": 5}):
        with pytest.raises(ValueError):
            Search(**bad)  # type: ignore[arg-type]


# -- what the bench writes (pure) ----------------------------------------------------------------


def _step(tag: int, rate: float, p99: float | None, *, lossless: bool = True, phase: str = "coarse",
          generator_bound: bool = False) -> dict[str, Any]:
    return {"tag": tag, "rate": rate, "phase": phase, "offered_per_s": rate * 500, "delivered_per_s": rate * 500,
            "p99_ms": p99, "lossless": lossless, "missing": 0 if lossless else 7, "duplicated": 0, "unanswered": 0,
            "rejected": 0, "closed_by_server": 0, "generator_bound": generator_bound, "generator_cpu_max": 12.0,
            "server_cpu_pct": 50.0, "server_cpu_us_per_delivery": 3.5, "latency_ms": {"p50": 1.0, "max": 9.0},
            "others_pct": {"0": 1.0, "1": 2.0}}


def _ladder(label: str, rates: list[tuple[float, float | None]], *, ceiling: bool = False) -> dict[str, Any]:
    search = Search(start=20, bounds=(100, 250), ceiling=rates[-1][0] if ceiling else 5000)
    steps = []
    for tag, (rate, p99) in enumerate(rates, 1):
        steps.append(_step(tag, rate, p99))
        search.record(Outcome(rate, True, p99 if p99 is not None else float("inf")), "coarse")
    steps.append(_step(len(steps) + 1, 1000, 9000.0, phase="overload", lossless=False))
    limits = {}
    for bound in (100, 250):
        lim = search.limit(bound)
        limits[f"{bound:g}"] = {
            "sustained": next((s["tag"] for s in steps if lim.sustained and s["rate"] == lim.sustained.rate), None),
            "failed": None, "capped_by_generator": lim.capped_by_generator, "capped_by_ceiling": ceiling}
    return {"label": label, "config": {"bounds": [100, 250], "members": 500}, "steps": steps, "limits": limits,
            "sessions": [{"why": "start"}], "warnings": [], "elapsed_s": 60, "command": "python -m loadtest ladder"}


def test_the_bench_reports_sustained_rates_ratios_goals_and_floors(tmp_path: Path) -> None:
    run = bench_doc.Run(server_cores="0", generator_cores="1")
    run.labels = {"live-pg": "live, PostgreSQL + Redis", "socketio": "python-socketio + Redis",
                  "socketio-node": "Node.js Socket.IO + Redis adapter"}
    run.ladders["live-pg"] = _ladder("live", [(20, 5.0), (40, 12.0), (80, 60.0), (160, 200.0), (320, 900.0)])
    run.ladders["socketio"] = _ladder("sio", [(20, 30.0), (40, 400.0)])
    run.ladders["socketio-node"] = _ladder("node", [(20, 5.0), (40, 8.0)], ceiling=True)
    head = "\n".join(bench_doc.headline(run))
    assert "| live, PostgreSQL + Redis | 80 msgs/s (40,000 deliveries/s, p99 60 ms) | 160 msgs/s" in head
    assert "12 ms" in head  # p99 at 500 x 40 msgs/s
    assert "at least 40 msgs/s" in head and "the ladder's top" in head
    ratios = "\n".join(bench_doc.ratios(run))
    assert "| live, PostgreSQL + Redis / python-socketio + Redis | 4.00x | 8.00x |" in ratios
    assert "at most 2.00x" in ratios  # Node's figure is a floor: the ratio can only be smaller
    goals = "\n".join(bench_doc.goals(run))
    assert "p99 <= 250 ms: at least 5x python-socketio (8.00x): **met**" in goals
    assert "p99 <= 100 ms: at least 5x python-socketio (4.00x): **NOT met**" in goals
    assert ("ahead of Node.js Socket.IO (160 msgs/s vs 40 msgs/s; Node's is only a floor, so undecided): **NOT met**"
            in goals)
    assert "under 25 ms (12 ms): **met**" in goals
    assert "| python-socketio + Redis | 500,000 | 500,000 | 9,000 |" in "\n".join(bench_doc.overload_table(run))
    table = ladder_report.markdown_steps(run.ladders["live-pg"])
    assert "failed: p99 over 250 ms" in table and "sustained (p99 <= 100 ms)" in table and "| overload |" in table
    # The README's block is replaced between its markers, the rest kept.
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n\n{bench_doc.START}\nold figures\n{bench_doc.END}\n\nafter\n")
    bench_doc.update_readme(readme, run, "docs/benchmarks.md", "a note")
    text = readme.read_text()
    assert "old figures" not in text and text.startswith("# x\n\nbefore\n") and text.endswith("\nafter\n")
    assert "> **a note**" in text and "| live, PostgreSQL + Redis | 80 msgs/s (40,000 deliveries/s) |" in text
    # A run's results are kept, so that its documents can be written again without measuring.
    (tmp_path / "run.json").write_text(json.dumps(run.to_json()))
    again = bench_doc.Run.load(tmp_path / "run.json")
    assert bench_doc.markdown(again, "report.html") == bench_doc.markdown(run, "report.html")


# -- the generator's frame cache (sans I/O) ------------------------------------------------------


def test_a_rooms_frame_is_decoded_once_and_every_member_accounts_it() -> None:
    frames = FrameCache(size=4)
    got: list[tuple[str, Any]] = []
    clients = [LiveClient("http://127.0.0.1:1", "t", lambda chats, at, n=n: got.append((n, chats)), frames=frames)
               for n in ("a", "b")]
    messages = [{"type": "chat.message", "room": "live:1", "seq": s, "text": chat_text(100.0 + s, 7, 1, s, "x"),
                 "user": {"id": "u"}} for s in (1, 2)]
    frame = msgpack.packb(messages, use_bin_type=True)
    for client in clients:
        client._on_frame(bytes(frame), 105.0)  # each member's own copy of the same bytes
    assert frames.misses == 1 and frames.hits == 1
    assert got == [(n, (("live:1", 1, 101.0, 7), ("live:1", 2, 102.0, 7))) for n in ("a", "b")]
    # A reply in a frame goes to the client that asked, whatever the cache holds.
    replies: list[Any] = []
    clients[0]._callbacks[5] = lambda code, seq, at: replies.append((code, seq))
    clients[1]._on_frame(msgpack.packb({"type": "ok", "ref": 5, "seq": 3}), 106.0)
    clients[0]._on_frame(msgpack.packb({"type": "ok", "ref": 5, "seq": 3}), 106.0)
    assert replies == [(None, 3)]
    for n in range(6):  # the oldest frames go once the cache is full
        clients[0]._on_frame(msgpack.packb({"type": "ok", "ref": 100 + n}), 107.0)
    assert len(frames.frames) == 4 and bytes(frame) not in frames.frames
    assert text_stamp("not a generated text") == (-1.0, -1)


# -- pinning ---------------------------------------------------------------------------------------


def test_the_bench_pins_servers_to_the_first_core_and_itself_elsewhere(tmp_path: Path) -> None:
    from loadtest.bench_servers import Pinning, Servers

    pinning = Pinning()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        assert not pinning.split  # one core: nothing to separate, and the bench says so
        return
    assert pinning.server == {cores[0]} and pinning.generator == set(cores[1:]) and pinning.split
    servers = Servers(tmp_path, pinning)
    try:
        proc = servers.start("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"])
        assert os.sched_getaffinity(proc.pid) == {cores[0]}
        free = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert pinning.pin(free.pid, pinning.generator, "a process")
            assert os.sched_getaffinity(free.pid) == set(cores[1:])
        finally:
            free.kill()
            free.wait()
    finally:
        servers.close()
    assert proc.poll() is not None


# -- a tiny ladder against a real live server ------------------------------------------------------


@pytest.fixture
async def live_server(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[RunningServer]:
    # A grace of one second: a ladder's lives must be hosted for the whole run, or the live ends
    # mid-run and every later step is refused (`conflict`), as `make bench` once found at 60 s.
    cfg = settings(database_url=sqlite_url, redis_url=redis_url, redis_prefix=redis_prefix,
                   chat_rate=1000.0, chat_burst=1000, live_grace_seconds=1.0)
    async with run_server(cfg) as running:
        yield running


async def _ladder_cli(*argv: str, timeout: float = 240) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest", "ladder", *argv, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


TINY = ["--members", "6", "--start", "4", "--ceiling", "8", "--fine-steps", "0", "--overload", "12",
        "--step-messages", "1", "--step-seconds", "1:1", "--warmup", "0.5", "--ramp", "0.5"]


def exact_steps(result: dict[str, Any], members: int) -> None:
    """Every step counted exactly: each message answered, and delivered to every member once."""
    for step in result["steps"]:
        assert step["sent"] > 0 and step["acked"] == step["sent"] and step["rejected"] == 0, step
        assert step["delivered"] == step["acked"] * members and step["missing"] == 0, step
        assert step["duplicated"] == 0 and step["closed_by_server"] == 0 and step["complete"], step


async def test_a_ladder_climbs_and_counts_every_step(live_server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "ladder.json"
    code, stdout, err = await _ladder_cli("--url", live_server.url, "--secret", SECRET, *TINY, "--out", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    assert [(s["phase"], s["rate"]) for s in result["steps"]][-1] == ("overload", 12)
    assert result["steps"][0]["rate"] == 4 and len(result["sessions"]) >= 1
    exact_steps(result, members=6)
    step = result["steps"][0]
    assert step["members_per_room"] == 6 and step["offered_per_s"] == 24
    assert step["server"] and step["server"][0]["pid"] == os.getpid()  # found by its port and measured
    assert step["server_cpu_us_per_delivery"] is not None and step["generator_cpu_pct"]
    assert set(result["limits"]) == {"100", "250"}
    assert "highest rate sustained at p99 <= 250 ms" in stdout and "overload" in stdout
    assert out.with_suffix(".html").read_text().count("<svg") == 3


async def test_a_ladder_refuses_what_it_cannot_run(live_server: RunningServer, tmp_path: Path) -> None:
    code, _, err = await _ladder_cli("--url", live_server.url, *TINY)
    assert code == 1 and "--secret" in err
    code, _, err = await _ladder_cli("--url", live_server.url, "--secret", SECRET, "--bounds", "0,250")
    assert code == 2 and "bounds must be > 0" in err
    code, _, err = await _ladder_cli("--url", live_server.url, "--secret", "not-the-secret" * 3, *TINY)
    assert code == 1 and "401" in err
