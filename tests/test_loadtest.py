"""The load generator end to end: tiny runs against real servers, shards merged, reports written.

No figure is asserted here (timed assertions belong to `make bench`); what is asserted is that
the tool counts correctly: every acknowledged message is delivered to every member exactly once,
shards add up, failures are reported as failures.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from loadtest import report
from loadtest.cli import build_parser
from loadtest.hdr import Histogram, index_of, value_of
from loadtest.runner import summarize
from tests.support import banner
from tests.support.processes import python_module
from tests.support.redis_server import free_port
from tests.support.servers import SECRET, RunningServer, run_server, settings

ROOT = Path(__file__).resolve().parents[1]


async def loadtest(*argv: str, timeout: float = 90) -> tuple[int, str, str]:
    """Run `python -m loadtest ...` as a real process (the server keeps serving meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest", *argv, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def live_server(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[RunningServer]:
    # The scenarios here push a few clients hard for a second or two (churners rejoining every
    # 0.1 s): the server's per-user chat and per-connection join limits are raised, as an operator
    # load-testing their deployment would.
    cfg = settings(database_url=sqlite_url, redis_url=redis_url, redis_prefix=redis_prefix,
                   chat_rate=1000.0, chat_burst=1000, join_rate=100.0, join_burst=100)
    async with run_server(cfg) as running:
        yield running


FAST = ["--processes", "1", "--ramp", "1", "--drain", "1.5", "--quiet"]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _exact_delivery(result: dict[str, Any], members: int) -> None:
    s = result["summary"]
    assert s["failed"] == 0 and s["closed_by_server"] == 0
    assert s["sent"] > 0 and s["acked"] == s["sent"] and s["rejected"] == 0
    assert s["delivered"] == s["acked"] * members
    assert s["missing"] == 0 and s["duplicated"] == 0
    assert Histogram.from_json(result["latency"]).total == s["delivered"]


# -- the histogram (pure) ----------------------------------------------------------------------


def test_histogram_percentiles_within_bucket_error() -> None:
    values = [int(1.07**i) for i in range(300)] + list(range(0, 5000, 7))
    h = Histogram()
    for v in values:
        h.record(v)
    values.sort()
    for q in (50, 90, 99, 99.9):
        exact = values[max(0, int(len(values) * q / 100 + 0.5) - 1)]
        assert abs(h.percentile(q) - exact) <= max(1.0, exact / 32), q
    assert h.percentile(100) == h.max == values[-1] and h.min == values[0]
    for v in (0, 1, 127, 128, 1000, 123_456_789):
        assert abs(value_of(index_of(v)) - v) <= max(0.5, v / 64)


def test_histograms_merge_exactly_and_survive_json() -> None:
    a, b, both = Histogram(), Histogram(), Histogram()
    for i in range(1000):
        (a if i % 2 else b).record(i * 37)
        both.record(i * 37)
    merged = Histogram.from_json(json.loads(json.dumps(a.to_json())))
    merged.merge(Histogram.from_json(b.to_json()))
    assert merged.counts == both.counts and merged.total == 1000
    assert (merged.min, merged.max) == (both.min, both.max)


def test_every_option_is_explained() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == {"chat", "connections", "media", "hls", "churn", "ladder", "merge", "report"}
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


# -- runs against a real live server -----------------------------------------------------------


async def test_no_server_is_one_clear_line() -> None:
    code, _, err = await loadtest("chat", "--url", f"http://127.0.0.1:{free_port()}", "--secret", SECRET,
                                  "--members", "2", "--senders", "1", "--duration", "1", timeout=60)
    assert code == 1
    assert err.startswith("loadtest: could not reach http://127.0.0.1:"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


async def test_chat_run_counts_every_delivery_once(live_server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "chat.json"
    code, stdout, err = await loadtest(
        "chat", "--url", live_server.url, "--secret", SECRET, "--rooms", "2", "--members", "8",
        "--senders", "2", "--rate", "8", "--duration", "2", "--out", str(out), *FAST)
    assert code == 0, err
    result = _load(out)
    assert result["summary"]["connected"] == 16
    _exact_delivery(result, members=8)
    assert "deliveries/s" in stdout and "latency p99 ms" in stdout
    # The server was found by its port and sampled.
    assert result["summary"]["server"] and result["summary"]["server"][0]["pid"] == os.getpid()
    page = out.with_suffix(".html").read_text()
    # Self-contained: inline SVG plots, nothing to fetch, no scripts.
    assert page.count("<svg") >= 5
    assert "<script" not in page and "src=" not in page and "<link" not in page


async def test_shards_merge_into_one_run(live_server: RunningServer, tmp_path: Path) -> None:
    code, stdout, err = await loadtest("chat", "--url", live_server.url, "--secret", SECRET,
                                       "--rooms", "1", "--setup-only", "--quiet")
    assert code == 0, err
    rooms = stdout.split()  # "--community CID --room live:..."
    assert rooms[0] == "--community" and rooms[2] == "--room" and rooms[3].startswith("live:")
    runs = [
        loadtest("chat", "--url", live_server.url, "--secret", SECRET, *rooms, "--members", "10",
                 "--senders", "2", "--rate", "6", "--duration", "2", "--shard", f"{i}/2",
                 "--id-prefix", f"shard{i}{os.getpid()}", "--out", str(tmp_path / f"s{i}.json"), *FAST)
        for i in range(2)
    ]
    for code, _, err in await asyncio.gather(*runs):
        assert code == 0, err
    shards = [_load(tmp_path / f"s{i}.json") for i in range(2)]
    assert [s["summary"]["connected"] for s in shards] == [5, 5]
    code, stdout, err = await loadtest("merge", str(tmp_path / "s0.json"), str(tmp_path / "s1.json"),
                                       "--out", str(tmp_path / "all.json"), "--html", str(tmp_path / "all.html"))
    assert code == 0, err
    merged = _load(tmp_path / "all.json")
    assert merged["shards"] == ["0/2", "1/2"]
    assert merged["summary"]["connected"] == 10
    _exact_delivery(merged, members=10)
    assert merged["summary"]["sent"] == sum(s["summary"]["sent"] for s in shards)
    assert (tmp_path / "all.html").read_text().count("<svg") >= 5


async def test_connections_and_churn(live_server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "conns.json"
    code, _, err = await loadtest("connections", "--url", live_server.url, "--secret", SECRET,
                                  "--connections", "40", "--duration", "1", "--out", str(out), *FAST)
    assert code == 0, err
    s = _load(out)["summary"]
    assert s["connected"] == 40 and s["failed"] == 0 and "rss_per_connection" in s
    out = tmp_path / "churn.json"
    code, _, err = await loadtest("churn", "--url", live_server.url, "--secret", SECRET, "--members", "6",
                                  "--senders", "1", "--rate", "4", "--churners", "4", "--dwell", "0.1:0.3",
                                  "--duration", "2", "--out", str(out), *FAST)
    assert code == 0, err
    result = _load(out)
    _exact_delivery(result, members=6)
    assert result["summary"]["churn"]["joins"] >= 4 and result["summary"]["churn"]["failed"] == 0


async def test_failures_are_reported_not_hidden(live_server: RunningServer, tmp_path: Path) -> None:
    # A wrong secret: the setup's HTTP call is refused with the contract's code.
    code, _, err = await loadtest("chat", "--url", live_server.url, "--secret", "not-the-secret" * 3,
                                  "--members", "2", "--senders", "1", *FAST)
    assert code == 1 and "401" in err and "unauthorized" in err
    # Members whose tokens the server refuses count as failed connections (closed 4001).
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join([live_server.token(f"own{os.getpid()}")] + ["x.y.z"] * 3) + "\n")
    out = tmp_path / "bad.json"
    code, _, err = await loadtest("chat", "--url", live_server.url, "--tokens-file", str(tokens),
                                  "--members", "3", "--senders", "1", "--rate", "2", *FAST)
    assert code == 1 and "joining the community" in err and "401" in err  # a sender must join first
    code, _, err = await loadtest("chat", "--url", live_server.url, "--tokens-file", str(tokens),
                                  "--members", "3", "--senders", "1", "--rate", "0", "--duration", "1",
                                  "--out", str(out), "--no-server-stats", *FAST)
    assert code == 0, err
    s = _load(out)["summary"]
    assert s["connected"] == 0 and s["failed"] == 3 and s["server"] == []
    assert any("4001" in k for k in _load(out)["counters"]["failed"])
    # Nothing listening: every member fails to connect, and the run still ends with a report.
    port = free_port()
    code, _, err = await loadtest("connections", "--target", "socketio", "--url", f"http://127.0.0.1:{port}",
                                  "--connections", "2", "--duration", "1", "--out", str(out), *FAST)
    assert code == 0, err
    assert _load(out)["summary"]["failed"] == 2
    # Sharding without shared rooms, and media without a relay path, are refused plainly.
    code, _, err = await loadtest("chat", "--url", live_server.url, "--secret", SECRET, "--shard", "1/2", *FAST)
    assert code == 1 and "--setup-only" in err
    code, _, err = await loadtest("media", "--target", "socketio", "--url", live_server.url)
    assert code == 1 and "no socketio peer" in err


async def test_media_subscribers_get_video(live_server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "media.json"
    code, stdout, err = await loadtest("media", "--url", live_server.url, "--secret", SECRET,
                                       "--subscribers", "2", "--ramp", "0.5", "--duration", "2",
                                       "--out", str(out), "--quiet", timeout=120)
    assert code == 0, err
    s = _load(out)["summary"]
    assert s["connected"] == 2 and s["failed"] == 0
    assert s["fps_min"] > 5 and s["kbps_avg"] > 0
    assert Histogram.from_json(_load(out)["latency"]).total == 2  # a first frame per subscriber
    assert "join to first frame p99 ms" in stdout
    assert out.with_suffix(".html").read_text().count("<svg") >= 4


# -- the python-socketio peer ------------------------------------------------------------------


async def test_socketio_peer_same_scenario(redis_url: str, redis_prefix: str, tmp_path: Path) -> None:
    try:
        import socketio  # noqa: F401
    except ImportError:
        banner.say("python-socketio is not installed (the test extra): the socketio peer test was SKIPPED")
        pytest.skip("python-socketio is not installed (pip install -e '.[test]')")
    port = free_port()
    async with python_module("loadtest.peers.socketio_server", "--port", str(port), "--redis-url", redis_url,
                             "--prefix", redis_prefix, port=port) as peer:
        out = tmp_path / "sio.json"
        code, _, err = await loadtest("chat", "--target", "socketio", "--url", f"http://127.0.0.1:{port}",
                                      "--rooms", "2", "--members", "6", "--senders", "2", "--rate", "6",
                                      "--duration", "2", "--out", str(out), *FAST)
        assert code == 0, err
        result = _load(out)
        _exact_delivery(result, members=6)
        assert result["summary"]["server"][0]["pid"] == peer.pid
        # Side by side with a live result: a table with ratios, and one report.
        text = report.table([result, summarize(json.loads(out.read_text()))])
        assert "socketio vs socketio" in text and "1.00x" in text
