"""`make bench`: the standard benchmark set, on this machine, every peer in the same run.

For each target in turn (live on SQLite; live on PostgreSQL + Redis; python-socketio + Redis;
Node.js Socket.IO + its Redis adapter) the bench starts the server and its own redis-server pinned
to the first core, runs the chat ladder (`loadtest.ladder`: one room of 500 members, every member
a sender, the highest rate sustained at p99 <= 100 ms and <= 250 ms with nothing lost, then an
overload step) with the generator pinned to the other cores, and stops them. The idle-connections
and media runs follow the same pinning. It writes docs/benchmarks.md (`loadtest.bench_doc`), the
README's performance block and var/bench/report.html. About 11 minutes on 2 cores.

    python -m loadtest.bench [--quick] [--only TARGET] [--skip connections|media] [--note TEXT]
    python -m loadtest.bench --render   # the documents again from var/bench/run.json
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from loadtest import bench_audience, bench_doc, ladder_report
from loadtest.bench_servers import (
    PY,
    ROOT,
    TARGETS,
    Pinning,
    Postgres,
    Servers,
    Target,
    TargetRun,
    free_port,
    node_peer,
    node_version,
    redis_version,
    wait_http,
)
from loadtest.ladder import LadderSpec, run_ladder
from loadtest.runner import summarize
from loadtest.worker import raise_fd_limit


def shown_command(argv: list[str]) -> str:
    """The command line as the docs show it: the run's secret, ports and pids as placeholders."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        prev = argv[i - 1] if i else ""
        if prev == "--secret":
            arg = "$LIVE_SECRET"
        elif prev == "--server-pid":
            arg = "PID"
        elif prev == "--url":
            arg = "http://127.0.0.1:$PORT"
        out.append(arg)
    return "python -m loadtest " + " ".join(
        a if a.startswith(("$", "http://127.0.0.1:$")) else shlex.quote(a) for a in out
    )


def run_loadtest(argv: list[str], out: Path, timeout: float) -> dict[str, Any]:
    cmd = [PY, "-m", "loadtest", *argv, "--out", str(out), "--html", str(out.with_suffix(".html"))]
    shown = shown_command(argv)
    print(f"\n$ {shown}", flush=True)
    proc = subprocess.run(cmd, timeout=timeout, stdout=subprocess.DEVNULL, cwd=ROOT)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"loadtest exited {proc.returncode}: {shown}")
    result = summarize(json.loads(out.read_text()))
    result["command"] = shown
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="var/bench", help="where results and logs go (default var/bench)")
    parser.add_argument(
        "--out-doc", default="docs/benchmarks.md", help="the Markdown written (default docs/benchmarks.md)"
    )
    parser.add_argument("--quick", action="store_true", help="a much smaller set (a smoke test of the bench itself)")
    parser.add_argument("--readme", default="README.md",
                        help="README whose performance block (between the bench markers) gets the headline "
                             "figures; '' for none (default README.md; never with --quick)")
    parser.add_argument("--only", action="append", choices=[t.key for t in TARGETS],
                        help="measure only this chat target (repeat for several; default all)")
    parser.add_argument("--skip", action="append", default=[], choices=("connections", "media", "audience", "chat"),
                        help="leave out the idle-connections, the media, the audience (relay tree, HLS, chat "
                             "while a live is watched) or the chat ladder section")
    parser.add_argument("--audience-only", action="store_true",
                        help="only the audience section (the relay tree, HLS, chat while a live is watched)")
    parser.add_argument("--note", default="", help="a note printed at the top of the documents written "
                                                   "(the conditions of this run)")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: write the documents again from the results a previous run left "
                             "in --dir (its run.json)")
    args = parser.parse_args(argv)
    if args.render:
        run = bench_doc.Run.load(Path(args.dir) / "run.json")
        if args.note:
            run.note = args.note
        write(run, Path(args.dir), args)
        return 0

    workdir = Path(args.dir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    raise_fd_limit()  # the servers inherit it: 10,000 connections need more than 1,024 descriptors
    pinning = Pinning()
    if pinning.split:
        os.sched_setaffinity(0, pinning.generator)  # the bench and every generator process it starts
    else:
        pinning.notes.append("one core only: the server and the generator could NOT be put on separate cores")
    servers = Servers(workdir, pinning)
    started = time.time()
    try:
        run = bench(servers, workdir, args)
    finally:
        servers.close()
    run.elapsed = time.time() - started
    run.notes += pinning.notes
    (workdir / "run.json").write_text(json.dumps(run.to_json()))
    write(run, workdir, args)
    return 0


def write(run: bench_doc.Run, workdir: Path, args: argparse.Namespace) -> None:
    """docs/benchmarks.md, the README's block (not for --quick) and the HTML page, from `run`."""
    html_path = workdir / "report.html"
    html_path.write_text(bench_doc.html(run))
    Path(args.out_doc).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_doc).write_text(bench_doc.markdown(run, str(html_path)))
    if args.readme and not run.quick:
        bench_doc.update_readme(Path(args.readme), run, args.out_doc, run.note)
    print(f"\nwrote {args.out_doc} and {html_path} (the run took {run.elapsed / 60:.1f} min)")


def ladder_spec(target: Target, url: str, secret: str, quick: bool, processes: int, cores: set[int]) -> LadderSpec:
    """The bench's ladder: 1 room x 500 members, all senders, from 20 msgs/s doubling (40 msgs/s,
    the goal's scenario, is a step of every target), 2 bisections under each bound, overload 1000."""
    if quick:
        return LadderSpec(target=target.kind, label=target.key, url=url, secret=secret, members=50,
                          processes=processes, start=20, fine_steps=1, ceiling=160, step_messages=20, step_min=2,
                          step_max=3, overload=320, warmup_seconds=1, generator_cores=cores)
    return LadderSpec(target=target.kind, label=target.key, url=url, secret=secret, members=500, processes=processes,
                      start=20, factor=2, fine_steps=2, ceiling=5000, step_messages=400, step_min=6, step_max=12,
                      overload=1000, warmup_seconds=3, generator_cores=cores)


def ladder_command(spec: LadderSpec) -> str:
    """The `python -m loadtest ladder` command line that runs the same ladder by hand."""
    argv = ["ladder", "--url", spec.url] + (["--target", "socketio"] if spec.target == "socketio" else
                                            ["--secret", "x"])
    argv += ["--members", str(spec.members), "--start", f"{spec.start:g}", "--factor", f"{spec.factor:g}",
             "--fine-steps", str(spec.fine_steps), "--ceiling", f"{spec.ceiling:g}",
             "--overload", f"{spec.overload or 0:g}", "--step-messages", str(spec.step_messages),
             "--step-seconds", f"{spec.step_min:g}:{spec.step_max:g}", "--processes", str(spec.processes),
             "--label", spec.label]
    return shown_command(argv)


def bench(servers: Servers, workdir: Path, args: argparse.Namespace) -> bench_doc.Run:
    pinning = servers.pinning
    run = bench_doc.Run(quick=args.quick, note=args.note, server_cores=pinning.label(pinning.server),
                        generator_cores=pinning.label(pinning.generator))
    secret = secrets.token_hex(32)
    processes = max(1, len(pinning.generator)) if pinning.split else 1
    chosen = [t for t in TARGETS if not args.only or t.key in args.only]
    keys = {t.key for t in chosen}
    pg = Postgres(servers)
    if "live-pg" in keys and pg.create() is None:
        run.skipped["live-pg"] = "no PostgreSQL to measure it on"
    if "socketio-node" in keys and not node_peer(run.notes):
        run.skipped["socketio-node"] = "its packages could not be installed (see the notes)"
    run.versions = {"redis-server": redis_version(), "Node.js peer": node_version()}
    conns = 300 if args.quick else 10_000
    if getattr(args, "audience_only", False):
        chosen = []
    for target in chosen:
        run.labels[target.key] = target.label
        if target.key in run.skipped:
            print(f"\n!!! {target.label}: NOT measured: {run.skipped[target.key]}", flush=True)
            continue
        print(f"\n== {target.label}", flush=True)
        tr = TargetRun(target, servers, workdir, secret, pg)
        try:
            tr.start()
            run.cores[target.key] = tr.cores()
            used = False  # by the connections or media runs: then the ladder gets a fresh server
            if "connections" not in args.skip and target.key != "live-sqlite":
                used = True
                # Connected, not joined: joining 10,000 members one by one takes minutes.
                run.connections.append(run_loadtest([
                    "connections", *tr.server_args(), "--connections", str(conns), "--no-join",
                    "--ramp", "5" if args.quick else "40", "--connect-timeout", "60",
                    "--duration", "3" if args.quick else "10", "--processes", str(processes), "--quiet",
                    "--label", target.key], workdir / f"connections-{target.key}.json", timeout=400))
            if "media" not in args.skip and target.key == ("live-pg" if pg.url else "live-sqlite"):
                used = True
                run.media = media_section(servers, workdir, tr.server_args(), processes, args.quick)
            if "chat" in args.skip:
                continue
            if used:
                # 10,000 connections just closed can keep a server busy for tens of seconds
                # (python-socketio's handshakes timed out behind them): the ladder starts afresh.
                tr.restart()
            spec = ladder_spec(target, tr.url, secret, args.quick, processes, pinning.generator)
            spec.command = ladder_command(spec)
            print(f"$ {spec.command}", flush=True)
            result = run_ladder(spec, server_pids=tr.pids, restart=tr.restart)
            result["label"] = target.label
            (workdir / f"ladder-{target.key}.json").write_text(json.dumps(result, indent=1))
            run.ladders[target.key] = result
            print(ladder_report.table(result), flush=True)
        except Exception as exc:  # noqa: BLE001 - the other targets are still measured, and this says why not
            run.skipped[target.key] = f"the run failed: {type(exc).__name__}: {exc}"
            print(f"\n!!! {target.label}: {run.skipped[target.key]}", flush=True)
        finally:
            tr.stop()
    if "audience" not in args.skip:
        print("\n== the audience: one live over several media processes, HLS, chat while a live is watched",
              flush=True)
        run.audience = bench_audience.audience_section(servers, workdir, secret, processes, args.quick, run_loadtest)
    return run


# Subscribers per media run (full set, --quick): the peer encodes once per viewer, so it gets few.
MEDIA_SUBSCRIBERS = {"live": (200, 10), "mediarelay": (3, 1)}


def media_section(servers: Servers, workdir: Path, live_args: list[str], processes: int,
                  quick: bool) -> dict[str, Any]:
    """The media runs (about 30 s): live's pass-through relay, then aiortc's stock MediaRelay peer
    (`loadtest.peers.mediarelay_server`, re-encoding per viewer), each with one 640x360 publisher and
    subscribers that count RTP where it arrives instead of decoding it (--raw, `loadtest.raw_viewer`),
    so the generator holds them all and the servers' CPU per subscriber is what compares."""
    from loadtest.media import PUBLISHER_BITRATE

    port = free_port()
    # The peer's viewers get the bitrate live forwards: its encoders are held at the publisher's.
    peer = servers.start("mediarelay", [PY, "-m", "loadtest.peers.mediarelay_server", "--port", str(port),
                                        "--video-bitrate", str(PUBLISHER_BITRATE)], cwd=ROOT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        targets = {"live": live_args,
                   "mediarelay": ["--target", "mediarelay", "--url", f"http://127.0.0.1:{port}",
                                  "--server-pid", str(peer.pid)]}
        results = []
        for name, argv in targets.items():
            n = MEDIA_SUBSCRIBERS[name][1 if quick else 0]
            result = run_loadtest(["media", *argv, "--raw", "--subscribers", str(n), "--ramp", "2" if n < 50 else "20",
                                   "--duration", "4" if quick else "10", "--processes", str(processes), "--quiet",
                                   "--label", name], workdir / f"media-{name}.json", timeout=120)
            s = result["summary"]
            print(f"  -> {name}: {s['connected']} subscribers, {s['fps_avg']} fps, loss {s['loss_pct_avg']}%, "
                  f"first frame p99 {s['first_frame_ms']['p99']} ms, server CPU {s['server_cpu_avg']}% "
                  f"({s.get('server_cpu_per_subscriber')}% per subscriber)", flush=True)
            results.append(result)
    finally:
        servers.stop("mediarelay")
    live, stock = (r["summary"].get("server_cpu_per_subscriber") for r in results)
    return {"results": results, "cpu_per_subscriber": {"live": live, "mediarelay": stock}}


if __name__ == "__main__":
    raise SystemExit(main())
