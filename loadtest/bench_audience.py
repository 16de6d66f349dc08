"""The audience part of `make bench`: one live and everyone watching it.

Three measurements, each against a fresh `live serve` pinned to the server's core (its media
processes inherit the pinning), with the generator on the other core(s):

- **the relay tree**: one live's viewers (counting RTP on the wire) on one media process, then on three (the origin
  and two edges, `LIVE_MEDIA_VIEWERS_PER_WORKER` viewers each): CPU per viewer on the origin and at
  the edges, the origin's cost per edge, loss and first frame per process (`loadtest media
  --workers`);
- **HLS for the crowd**: an H.264 host, and N cheap HTTP viewers of its HLS from one app node:
  segment fetch latency, stalls, glass to glass, the app node's CPU (`loadtest hls`);
- **chat while a live is watched**, in the embedded default (SQLite, one media process): one room
  of 500 members, every member a sender, 40 msgs/s, once alone and once while 50 viewers watch a
  720p live on the same node (the publisher sends a pre-encoded file: no encoder on the generator).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from loadtest.bench_servers import PY, ROOT, Servers, free_port, wait_http, wait_port

# full run, --quick: viewers per media process. They count RTP on the wire (`--raw`), so the
# generator's core holds the three processes' worth (it held ~35 counting viewers with SRTP and a
# jitter buffer each); 3 x 60 keep the server's one core near 65%, where joins stay quick.
VIEWERS_PER_PROCESS = (60, 4)
HLS_VIEWERS = (2000, 50)
CHAT = {"full": ("500", "40", "20"), "quick": ("50", "10", "5")}  # members, msgs/s, seconds
MEDIA_VIEWERS = (50, 4)


@contextlib.contextmanager
def live_server(servers: Servers, workdir: Path, secret: str, name: str,
                env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A fresh embedded `live serve` (SQLite under its own var dir) pinned to the server's core."""
    port = free_port()
    var = workdir / name
    full = {"LIVE_SECRET": secret, "LIVE_PORT": str(port), "LIVE_HOST": "127.0.0.1", "LIVE_LOG_LEVEL": "WARNING",
            "LIVE_VAR_DIR": str(var), "LIVE_DATABASE_URL": f"sqlite+aiosqlite:///{(var / 'live.db').resolve()}",
            "LIVE_CHAT_RATE": "1000", "LIVE_CHAT_BURST": "1000", "LIVE_RECORDING": "0", **env}
    proc = servers.start(name, [PY, "-m", "live", "serve", "--dev"], full, cwd=ROOT)
    try:
        wait_port(port, proc, "live serve")
        wait_http(f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        servers.stop(name)


def audience_section(servers: Servers, workdir: Path, secret: str, processes: int, quick: bool,
                     run_loadtest: Callable[[list[str], Path, float], dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, measure in (("tree", tree_runs), ("hls", hls_run), ("chat_with_media", chat_with_media)):
        try:
            out[key] = measure(servers, workdir, secret, processes, quick, run_loadtest)
        except Exception as exc:  # noqa: BLE001 - the other parts are still measured, and this says why not
            out.setdefault("skipped", {})[key] = f"{type(exc).__name__}: {exc}"
            print(f"\n!!! audience / {key}: NOT measured: {exc}", flush=True)
    return out


def tree_runs(servers: Servers, workdir: Path, secret: str, processes: int, quick: bool,
              run_loadtest: Callable[[list[str], Path, float], dict[str, Any]]) -> dict[str, Any]:
    per = VIEWERS_PER_PROCESS[1 if quick else 0]
    runs: dict[str, Any] = {}
    for workers in (1, 3):
        env = {"LIVE_MEDIA_PROCESSES": str(workers), "LIVE_MEDIA_VIEWERS_PER_WORKER": str(per), "LIVE_HLS": "0"}
        with live_server(servers, workdir, secret, f"tree-{workers}", env) as (url, pid):
            result = run_loadtest([
                "media", "--url", url, "--secret", secret, "--server-pid", str(pid), "--raw",
                # ten joins a second: a join is an ICE check and a DTLS handshake on the relay's core,
                # and 180 in 3 s made the first frame wait seconds (what a join storm costs, not a viewer)
                "--subscribers", str(per * workers), "--workers", str(workers),
                "--ramp", str(max(3, per * workers // 10)),
                "--duration", "4" if quick else "12", "--processes", str(processes), "--quiet",
                "--label", f"{workers} process{'es' if workers > 1 else ''}"],
                workdir / f"tree-{workers}.json", 180)
        s = result["summary"]
        print(f"  -> {workers} media process(es): {s['connected']} viewers, loss {s['loss_pct_avg']}%, first frame "
              f"p99 {s['first_frame_ms']['p99']} ms, {s.get('tree') or ''}", flush=True)
        runs[str(workers)] = result
    return runs


def _public_live(url: str, secret: str) -> tuple[str, str]:
    """A public community and a live in it: (live id, the host's token)."""
    from live.auth.tokens import mint

    token = mint(secret, "bench-host", name="Bench host", ttl=3600)
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        community = http.post("/v1/communities", json={"name": "HLS bench", "join_policy": "open",
                                                       "read_policy": "public"})
        community.raise_for_status()
        live = http.post(f"/v1/communities/{community.json()['id']}/live", json={"title": "HLS bench"})
        live.raise_for_status()
        return str(live.json()["id"]), token


def _wait_hls(url: str, lid: str, timeout: float = 40.0) -> None:
    deadline = time.time() + timeout
    with httpx.Client(base_url=url, timeout=5, follow_redirects=True) as http:
        while time.time() < deadline:
            resp = http.get(f"/v1/live/{lid}/hls/index.m3u8")
            if resp.status_code == 200 and resp.text.count("#EXTINF") >= 2:
                return
            time.sleep(0.5)
    raise RuntimeError(f"the live's HLS playlist had no two segments within {timeout:g} s")


def hls_run(servers: Servers, workdir: Path, secret: str, processes: int, quick: bool,
            run_loadtest: Callable[[list[str], Path, float], dict[str, Any]]) -> dict[str, Any]:
    viewers = HLS_VIEWERS[1 if quick else 0]
    duration = 8 if quick else 40
    with live_server(servers, workdir, secret, "hls", {"LIVE_MEDIA_PROCESSES": "1"}) as (url, pid):
        lid, token = _public_live(url, secret)
        # the host, on the generator's core (this process's affinity): H.264 encoded live, 640x360
        with open(workdir / "hls-publisher.log", "ab") as log:  # the child has its own copy
            publisher = subprocess.Popen([PY, "-m", "live.tools.publish", "--url", url, "--token", token, "--live",
                                          lid, "--codec", "h264", "--size", "640x360",
                                          "--seconds", str(duration + 120)],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            _wait_hls(url, lid)
            # the app node alone: HLS is served there (the media process writes the segments)
            argv = ["hls", "--url", url, "--live", lid, "--viewers", str(viewers), "--ramp", "5" if quick else "20",
                    "--duration", str(duration), "--server-pid", str(pid), "--quiet"]
            out = workdir / "hls.json"
            print(f"\n$ python -m loadtest {' '.join([*argv[:1], '--url', 'http://127.0.0.1:$PORT', *argv[3:]])}",
                  flush=True)
            proc = subprocess.run([PY, "-m", "loadtest", *argv, "--out", str(out)], cwd=ROOT, timeout=duration + 240,
                                  stdout=subprocess.DEVNULL)
            if proc.returncode != 0 or not out.exists():
                raise RuntimeError(f"loadtest hls exited {proc.returncode}")
            result: dict[str, Any] = json.loads(out.read_text())
            result["command"] = "python -m loadtest " + " ".join(
                ["hls", "--url", "http://127.0.0.1:$PORT", "--live", "LID", *argv[5:]]).replace(f"--server-pid {pid}",
                                                                                           "--server-pid PID")
        finally:
            publisher.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                publisher.wait(15)
    f, g = result["segment_fetch_ms"], result["glass_to_glass_s"]
    print(f"  -> HLS: {result['viewers']} viewers, app node CPU {result['server_cpu_percent']}%, segment fetch p99 "
          f"{f['p99']} ms, glass to glass p50 {g['p50']} s, stalls {result['stalls']}, errors {result['errors']}",
          flush=True)
    return result


def chat_with_media(servers: Servers, workdir: Path, secret: str, processes: int, quick: bool,
                    run_loadtest: Callable[[list[str], Path, float], dict[str, Any]]) -> dict[str, Any]:
    from live.media.synthetic import write_pattern_webm

    members, rate, seconds = CHAT["quick" if quick else "full"]
    watch_seconds = int(seconds) + 40
    video = workdir / "pattern-720p.webm"
    # longer than the viewers watch: a looping file's timestamps jump back, which receivers take as loss
    write_pattern_webm(str(video), 1280, 720, seconds=watch_seconds + 30)
    viewers = MEDIA_VIEWERS[1 if quick else 0]
    runs: dict[str, Any] = {}
    with live_server(servers, workdir, secret, "chat-media", {"LIVE_MEDIA_PROCESSES": "1"}) as (url, pid):
        chat = ["chat", "--url", url, "--secret", secret, "--server-pid", str(pid), "--members", members,
                "--senders", members, "--rate", rate, "--ramp", "5", "--duration", seconds,
                "--processes", str(processes), "--quiet"]
        # a warm-up, not reported: a fresh process's first queries and connections are not the figure
        warm = list(chat)
        warm[warm.index("--duration") + 1] = "3"
        run_loadtest([*warm, "--label", "warm-up"], workdir / "chat-warmup.json", 300)
        runs["alone"] = run_loadtest([*chat, "--label", "chat alone"], workdir / "chat-alone.json", 300)
        with open(workdir / "chat-media-viewers.log", "ab") as log:  # the child has its own copy
            media = subprocess.Popen([PY, "-m", "loadtest", "media", "--url", url, "--secret", secret, "--raw",
                                      "--subscribers", str(viewers), "--video", str(video), "--ramp", "5",
                                      "--duration", str(watch_seconds), "--processes", str(processes), "--quiet",
                                      "--server-pid", str(pid), "--label", "viewers",
                                      "--out", str(workdir / "chat-media-viewers.json")],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            time.sleep(20)  # the viewers joined (ramp) and watch
            runs["with_media"] = run_loadtest([*chat, "--label", f"chat while {viewers} watch 720p"],
                                              workdir / "chat-with-media.json", 300)
            media.wait(watch_seconds + 120)
        finally:
            if media.poll() is None:
                media.terminate()
                media.wait(15)
    viewers_result = workdir / "chat-media-viewers.json"
    if viewers_result.exists():
        from loadtest.runner import summarize

        runs["viewers"] = summarize(json.loads(viewers_result.read_text()))
    for key in ("alone", "with_media"):
        s = runs[key]["summary"]
        print(f"  -> {key}: p99 {s['latency_ms']['p99']} ms, ack p99 {s['ack_ms']['p99']} ms, "
              f"missing {s['missing']}", flush=True)
    return runs


# -- what the documents say ---------------------------------------------------------------------


def _r(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{float(value):,.{digits}f}"


def _tree_rows(result: dict[str, Any]) -> list[str]:
    rows = []
    for worker, w in result["summary"].get("by_worker", {}).items():
        per = (w["cpu_avg"] / w["subscribers"]) if w.get("cpu_avg") is not None and w["subscribers"] else None
        rows.append(f"| {'origin' if w['origin'] else 'edge'} `{worker}` | {w['subscribers']} | "
                    f"{w['cpu_avg'] if w['cpu_avg'] is not None else '-'}% | "
                    f"{f'{per:.2f}%' if per is not None else '-'} | {w['fps_avg']:g} | {w['loss_pct_avg']:g}% | "
                    f"{_r(w['first_frame_ms'].get('p99'))} ms |")
    return rows


def tree_figures(tree: dict[str, Any]) -> dict[str, Any]:
    """CPU per viewer with one process and with three, the origin's cost per edge, viewers per core."""
    out: dict[str, Any] = {}
    one = tree.get("1", {}).get("summary")
    three = tree.get("3", {}).get("summary")
    if one and one.get("connected"):
        media = [w for w in one.get("by_worker", {}).values() if w.get("cpu_avg") is not None]
        if media:
            out["one_cpu_per_viewer"] = round(media[0]["cpu_avg"] / max(1, media[0]["subscribers"]), 3)
        out["one_loss"] = one["loss_pct_avg"]
        out["one_viewers"] = one["connected"]
    if three:
        out.update({f"three_{k}": v for k, v in (three.get("tree") or {}).items()})
        out["three_loss"] = three["loss_pct_avg"]
        out["three_viewers"] = three["connected"]
        out["three_first_frame_p99"] = (
            max((w["first_frame_ms"].get("p99") or 0) for w in three.get("by_worker", {}).values())
            if three.get("by_worker")
            else None
        )
    # What the edges cost their origin: the origin of the three-process run carries as many viewers
    # as the lone process of the one-process run; the difference in CPU is its edges'.
    if one and three and three.get("tree") and three["tree"].get("edges"):
        alone = [w for w in one.get("by_worker", {}).values() if w.get("cpu_avg") is not None]
        origin = [w for w in three.get("by_worker", {}).values() if w["origin"] and w.get("cpu_avg") is not None]
        if alone and origin and origin[0]["subscribers"] == alone[0]["subscribers"]:
            per_edge = (origin[0]["cpu_avg"] - alone[0]["cpu_avg"]) / three["tree"]["edges"]
            per_viewer = three["tree"]["cpu_per_viewer_pct"]
            out["three_origin_cpu_per_edge_pct"] = round(per_edge, 3)
            out["three_edge_cost_in_viewers"] = round(per_edge / per_viewer, 2) if per_viewer else None
    per = out.get("three_cpu_per_viewer_pct") or out.get("one_cpu_per_viewer")
    if per:
        out["viewers_per_core"] = int(100 / per)
    return out


def markdown(audience: dict[str, Any]) -> list[str]:
    out = ["## The audience: one live, any audience", ""]
    tree = audience.get("tree")
    if tree:
        f = tree_figures(tree)
        out += ["### One live over several media processes (the relay tree)", "",
                "Viewers of one live (640x360 at 1.2 Mbit/s, 30 fps) counting RTP where it arrives (`--raw`), the "
                "server and its media processes pinned to one core (all three processes share it), the viewers on "
                "the other. CPU is each media process's own.", ""]
        for key in ("1", "3"):
            if key not in tree:
                continue
            s = tree[key]["summary"]
            out += [f"**{key} media process{'es' if key != '1' else ''}**: {s['connected']} viewers, "
                    f"{s['fps_avg']:g} fps, "
                    f"loss {s['loss_pct_avg']:g}% (worst {s['loss_pct_max']:g}%), first frame p99 "
                    f"{_r(s['first_frame_ms']['p99'])} ms.", "",
                    "| process | viewers | CPU | CPU per viewer | fps | loss | first frame p99 |",
                    "|---|---|---|---|---|---|---|", *_tree_rows(tree[key]), "", f"`{tree[key]['command']}`", ""]
        if f.get("three_origin_cpu_per_edge_pct") is not None:
            out += [
                f"- At the edges a viewer costs {f.get('three_cpu_per_viewer_pct')}% of a core; an edge costs its "
                f"origin {f.get('three_origin_cpu_per_edge_pct')}% of a core, the price of "
                f"{f.get('three_edge_cost_in_viewers')} viewer(s) (goal: at most 2): the origin of the "
                "three-process run "
                "carries as many viewers as the lone process of the one-process run, and the difference in their "
                "CPU is what its edges cost it (a difference of two runs: noisy on a shared machine).",
                "",
            ]
        if f.get("viewers_per_core"):
            out += [f"- About **{f['viewers_per_core']} viewers per relay core** at this cost per viewer. A live's "
                    "capacity is the sum of its processes' (each process its own core): with three relay processes, "
                    "three times one, less the edges' cost at the origin.", ""]
    for key, why in (audience.get("skipped") or {}).items():
        out += [f"**{key}: NOT measured: {why}.**", ""]
    hls = audience.get("hls")
    if hls:
        f, g = hls["segment_fetch_ms"], hls["glass_to_glass_s"]
        out += ["### HLS for the crowd", "",
                f"{hls['viewers']:,} HTTP viewers of one live (an H.264 640x360 host) from one app node: the app "
                f"node's CPU {hls['server_cpu_percent']}% of a core (goal: under 30% for 2,000), segment fetch "
                "p50 / p95 / p99 "
                f"{_r(f['p50'])} / {_r(f['p95'])} / {_r(f['p99'])} ms, glass to glass p50 / p99 {_r(g['p50'], 2)} / "
                f"{_r(g['p99'], 2)} s "
                f"(goal: under 6 s), {hls['stalls']} stalls ({hls['stalled_viewers']} viewers), "
                f"{hls['errors']} errors.",
                "", f"`{hls.get('command', '')}`", ""]
    chat = audience.get("chat_with_media")
    if chat:
        rows = []
        for key, what in (("alone", "alone"), ("with_media", "while a 720p live is watched")):
            s = chat[key]["summary"]
            cpu = s.get("server_cpu_avg")
            rows.append(f"| {what} | {s['delivered_per_s']:,.0f}/s | {_r(s['latency_ms']['p50'], 1)} | "
                        f"{_r(s['latency_ms']['p99'], 1)} | {_r(s['ack_ms']['p99'], 1)} | {s['missing']} | {cpu}% | "
                        f"{s['generator_cpu_max']}% |")
        viewers = chat.get("viewers", {}).get("summary", {})
        out += ["### Chat while a live is watched (the embedded default)", "",
                "One room, every member a sender, on SQLite with one media process, alone and while "
                f"{viewers.get('connected', '?')} viewers (counting RTP) watch a 1280x720 live (a pre-encoded VP8 file "
                "at "
                f"1.5 Mbit/s; viewers {viewers.get('fps_avg', '?')} fps, loss {viewers.get('loss_pct_avg', '?')}%) "
                "on the "
                "same node. Goal: p99 under 100 ms at 500 members x 40 msgs/s while 50 viewers watch.", "",
                "| chat | deliveries | p50 ms | p99 ms | ack p99 ms | missing | server CPU | generator CPU (max) |",
                "|---|---|---|---|---|---|---|---|", *rows, "", f"`{chat['with_media']['command']}`", ""]
    return out


def readme_rows(audience: dict[str, Any]) -> list[str]:
    rows = []
    tree = audience.get("tree")
    if tree:
        f = tree_figures(tree)
        if f.get("viewers_per_core"):
            rows.append(f"| one live over 3 media processes | {f.get('three_viewers')} viewers, loss "
                        f"{f.get('three_loss')}%, {f.get('three_cpu_per_viewer_pct')}% of a core per viewer (about "
                        f"{f['viewers_per_core']} per core); an edge costs its origin "
                        f"{f.get('three_edge_cost_in_viewers')} viewer(s); first frame p99 "
                        f"{_r(f.get('three_first_frame_p99'))} ms |")
    hls = audience.get("hls")
    if hls:
        rows.append(
            f"| HLS, one app node | {hls['viewers']:,} viewers at {hls['server_cpu_percent']}% of a core, glass "
            f"to glass p50 {_r(hls['glass_to_glass_s']['p50'], 2)} s, {hls['stalls']} stalls |"
        )
    chat = audience.get("chat_with_media")
    if chat:
        a, m = chat["alone"]["summary"], chat["with_media"]["summary"]
        rows.append(f"| chat p99, 500 x 40 msgs/s, embedded default | {_r(a['latency_ms']['p99'], 1)} ms alone, "
                    f"{_r(m['latency_ms']['p99'], 1)} ms while 50 viewers watch 720p |")
    return rows
