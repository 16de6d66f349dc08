"""The media scenario: one publisher (synthetic video + Opus tone) and N aiortc subscribers, through
`live` (the gateway's `media.publish` / `media.subscribe`) or through the stock-`MediaRelay` peer
(loadtest/peers/mediarelay_server.py, plain HTTP).

By default every subscriber decodes what it receives, as a viewer's browser would, so the
generator's CPU grows fast with N and is reported beside the server's: past one core the
generator, not the relay, sets the figures. With `decode=False` (`--no-decode`) subscribers only
count complete encoded frames (`CountingSubscriber`: RTP, SRTP, jitter buffer, NACK and PLI as
usual, no decoder), so one process holds many and the run measures the relay's capacity; with
`raw` (`--raw`) they count RTP where it arrives (`loadtest.raw_viewer`: no SRTP, jitter buffer,
NACK or PLI), about ten times cheaper again, for runs of hundreds of viewers per relay core. With
`processes` > 1 the subscribers are spread over that many child processes (the publisher stays in
the parent), each reporting its own CPU.

Per subscriber: video frames per second over the measured window, bitrate, and packet loss: the
video packets that did not arrive over those the sender numbered in the window (`window_loss`, from
the receiver's per-stream statistics without the retransmission stream), and the time from
creating its offer to its first video frame (decoded, or complete when not decoding), split into
phases. Server CPU per subscriber is the server's average CPU over the window divided by the
subscribers connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import multiprocessing as mp
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from loadtest import procstat
from loadtest.hdr import Histogram
from loadtest.raw_viewer import RawCountingSubscriber
from loadtest.runner import CPU_WARN, Progress, machine_info

FIRST_FRAME_TIMEOUT = 20.0
# The publisher's video is held at this bitrate (the "about 1-1.5 Mbit/s") instead of
# following the server's REMB, so that every target relays the same stream (see `hold_bitrate`).
PUBLISHER_BITRATE = 1_200_000
TARGETS = ("live", "mediarelay")
# Where a first frame's time goes: the offer (ICE gathering), the server's answer (signaling and
# its own gathering), the connection (ICE checks and DTLS), then the first video frame.
PHASES = ("offer", "answer", "connect", "first_frame")


class LiveTarget:
    """`live`: each subscriber is a member with its own WebSocket, joined to the live's room."""

    def __init__(self, url: str, room: str, host_token: str | None = None) -> None:
        self.url, self.room, self.host_token = url, room, host_token
        self.host_client: Any = None
        self.origin = ""  # the media process the publisher landed on

    async def publish(self, offer: str) -> str:
        from live.client import LiveClient

        assert self.host_token is not None
        self.host_client = await LiveClient.connect(self.url, self.host_token, encoding="msgpack")
        await self.host_client.request("room.join", room=self.room)
        reply = await self.host_client.request("media.publish", room=self.room, sdp=offer, timeout=30)
        self.origin = str(reply.get("worker") or "")
        return str(reply["sdp"])

    async def join(self, token: str | None) -> Any:
        from live.client import LiveClient

        assert token is not None
        client = await LiveClient.connect(self.url, token, encoding="msgpack")
        await client.request("room.join", room=self.room)
        return client

    async def subscribe(self, handle: Any, offer: str) -> tuple[str, str]:
        """The answer, and the media process the subscriber was placed on."""
        reply = await handle.request("media.subscribe", room=self.room, sdp=offer, timeout=30)
        return str(reply["sdp"]), str(reply.get("worker") or "")

    async def leave(self, handle: Any) -> None:
        await handle.close()

    async def close(self) -> None:
        if self.host_client is not None:
            with contextlib.suppress(Exception):
                await self.host_client.request("media.stop", room=self.room)
            await self.host_client.close()


class MediaRelayTarget:
    """The stock-`MediaRelay` peer: offers and answers over `POST /publish` and `POST /subscribe`."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30)
        self.origin = ""

    async def _post(self, path: str, offer: str) -> str:
        response = await self.http.post(path, json={"sdp": offer})
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:80]}")
        return str(response.json()["sdp"])

    async def publish(self, offer: str) -> str:
        return await self._post("/publish", offer)

    async def join(self, token: str | None) -> Any:
        return None

    async def subscribe(self, handle: Any, offer: str) -> tuple[str, str]:
        return await self._post("/subscribe", offer), ""

    async def leave(self, handle: Any) -> None:
        pass

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.http.delete("/publish")
        await self.http.aclose()


def _target(target: str, url: str, room: str, host_token: str | None = None) -> LiveTarget | MediaRelayTarget:
    if target not in TARGETS:
        raise ValueError(f"the media scenario's targets are {', '.join(TARGETS)}")
    return LiveTarget(url, room, host_token) if target == "live" else MediaRelayTarget(url)


async def _stats(sub: Any) -> tuple[int, int, int]:
    """(video packets expected, video packets received, bytes received over the transport: audio
    and video) of a subscriber; aiortc's receiver statistics carry no byte counts per stream."""
    from live.media.peers import receive_counts

    if isinstance(sub, RawCountingSubscriber):
        return sub.counts()
    pc = sub.pc
    expected = received = size = 0
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            e, r = receive_counts(transceiver.receiver)
            expected += e
            received += r
    for s in (await pc.getStats()).values():
        if s.type == "transport":
            size += int(getattr(s, "bytesReceived", 0) or 0)
    return expected, received, size


def window_loss(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Percent of the video packets a subscriber's sender numbered over a window that did not
    arrive on the video stream (retransmission may have recovered some: this is the loss on the
    way), from (expected, received) counts at the window's ends: 0 when nothing was expected,
    never below 0 (a packet that arrived twice counts twice) nor above 100."""
    expected = after[0] - before[0]
    received = after[1] - before[1]
    if expected <= 0:
        return 0.0
    return round(100.0 * min(expected, max(0, expected - received)) / expected, 3)


class SubscriberGroup:
    """Some of the run's subscribers, on one event loop: they join at their offsets from `start()`,
    `mark()` opens the measured window, `finish()` closes it, ends them and returns the figures."""

    def __init__(self, target: str, url: str, room: str, tokens: list[str | None], offsets: list[float],
                 decode: bool, raw: bool = False) -> None:
        self.signaling = _target(target, url, room)
        self.tokens, self.offsets, self.decode, self.raw = tokens, offsets, decode, raw
        self.subs: list[tuple[Any, Any]] = []
        self.worker_of: dict[int, str] = {}  # id(subscriber) -> the media process it was placed on
        self.failed: dict[str, int] = {}
        self.first = Histogram()
        self.first_by_worker: dict[str, Histogram] = {}
        self.phases = {name: Histogram() for name in PHASES}
        self.joins: asyncio.Future[Any] | None = None
        self.frames_before: dict[int, int] = {}
        self.stats_before: dict[int, tuple[int, int, int]] = {}
        self.marked_at = 0.0

    def start(self) -> None:
        self.joins = asyncio.gather(*(self._one(t, at) for t, at in zip(self.tokens, self.offsets, strict=True)))

    def _fail(self, key: str) -> None:
        self.failed[key] = self.failed.get(key, 0) + 1

    async def _one(self, token: str | None, at: float) -> None:
        from live.media.peers import CountingSubscriber, Subscriber

        await asyncio.sleep(at)
        try:
            client = await self.signaling.join(token)
            sub: Any = RawCountingSubscriber() if self.raw else Subscriber() if self.decode else CountingSubscriber()
            marks = {"asked": time.monotonic()}

            @sub.pc.on("connectionstatechange")
            def _connected(pc: Any = sub.pc) -> None:
                if pc.connectionState == "connected":
                    marks.setdefault("connect", time.monotonic())

            offer = await sub.offer()
            marks["offer"] = time.monotonic()
            answer, worker = await self.signaling.subscribe(client, offer)
            marks["answer"] = time.monotonic()
            await sub.accept(answer)
            self.subs.append((client, sub))
            self.worker_of[id(sub)] = worker
            if await sub.wait_video(1, FIRST_FRAME_TIMEOUT) and sub.received.first_video_at is not None:
                marks["first_frame"] = sub.received.first_video_at
                took = int((marks["first_frame"] - marks["asked"]) * 1e6)
                self.first.record(took)
                self.first_by_worker.setdefault(worker, Histogram()).record(took)
                previous = marks["asked"]
                for name in PHASES:
                    now = marks.get(name, previous)
                    self.phases[name].record(max(0, int((now - previous) * 1e6)))
                    previous = now
            else:
                self._fail(f"no video within {FIRST_FRAME_TIMEOUT:g} s")
        except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
            self._fail(f"{type(exc).__name__}: {str(exc)[:60]}")

    def status(self) -> dict[str, Any]:
        return {"connected": len(self.subs), "frames": sum(s.received.frames["video"] for _, s in self.subs),
                "failed": sum(self.failed.values()), "joined": self.joins is not None and self.joins.done()}

    async def mark(self) -> None:
        self.marked_at = time.monotonic()
        for _, s in self.subs:
            self.frames_before[id(s)] = s.received.frames["video"]
            self.stats_before[id(s)] = await _stats(s)

    async def finish(self) -> dict[str, Any]:
        span = max(1e-6, time.monotonic() - self.marked_at)
        fps, kbps, loss, workers = [], [], [], []
        for _, s in self.subs:
            workers.append(self.worker_of.get(id(s), ""))
            fps.append((s.received.frames["video"] - self.frames_before.get(id(s), 0)) / span)
            expected, received, size_b = await _stats(s)
            e0, r0, b0 = self.stats_before.get(id(s), (0, 0, 0))
            kbps.append((size_b - b0) * 8 / span / 1000)
            loss.append(window_loss((e0, r0), (expected, received)))
        if self.joins is not None:
            self.joins.cancel()
            with contextlib.suppress(BaseException):
                await self.joins
        for client, s in self.subs:
            await s.close()
            await self.signaling.leave(client)
        await self.signaling.close()
        return {"fps": fps, "kbps": kbps, "loss": loss, "workers": workers, "failed": self.failed,
                "connected": len(self.subs), "first": self.first.to_json(),
                "first_by_worker": {w: h.to_json() for w, h in self.first_by_worker.items()},
                "phases": {k: h.to_json() for k, h in self.phases.items()}}


def _group_process(conn: Connection, config: dict[str, Any]) -> None:
    """A child process's subscribers: status once a second; "mark" and "finish" from the parent."""

    async def main() -> None:
        group = SubscriberGroup(**config)
        group.start()
        last_wall, last_cpu = time.time(), time.process_time()
        while True:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                if conn.poll():
                    command = conn.recv()
                    if command == "mark":
                        await group.mark()
                        conn.send(("marked", None))
                    else:
                        conn.send(("finished", await group.finish()))
                        return
                await asyncio.sleep(0.05)
            now, cpu = time.time(), time.process_time()
            conn.send(("status", {**group.status(), "cpu": 100.0 * (cpu - last_cpu) / max(1e-6, now - last_wall)}))
            last_wall, last_cpu = now, cpu

    asyncio.run(main())


class ProcessGroup:
    """The parent's side of a child process running a `SubscriberGroup`."""

    def __init__(self, config: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited event loop or threads
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_group_process, args=(child, config), daemon=True)
        self.latest: dict[str, Any] = {"connected": 0, "frames": 0, "failed": 0, "joined": False, "cpu": 0.0}
        self.replies: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.size = len(config["tokens"])

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.process.start()

        def read() -> None:
            while True:
                try:
                    kind, value = self.conn.recv()
                except (EOFError, OSError):
                    loop.call_soon_threadsafe(self.replies.put_nowait, ("gone", None))
                    return
                if kind == "status":
                    self.latest = value
                else:
                    loop.call_soon_threadsafe(self.replies.put_nowait, (kind, value))
                    if kind == "finished":
                        return

        threading.Thread(target=read, name="media-group-reader", daemon=True).start()

    def status(self) -> dict[str, Any]:
        return self.latest

    async def _ask(self, command: str, timeout: float) -> Any:
        self.conn.send(command)
        kind, value = await asyncio.wait_for(self.replies.get(), timeout)
        if kind == "gone":
            raise RuntimeError("a subscriber process ended early")
        return value

    async def mark(self) -> None:
        await self._ask("mark", 60)

    async def finish(self) -> dict[str, Any]:
        try:
            return dict(await self._ask("finish", 120))
        finally:
            await asyncio.to_thread(self.process.join, 10)


async def run_media(url: str, host_token: str | None, tokens: list[str | None], room: str, *, size: tuple[int, int],
                    ramp: float, duration: float, server_pids: list[int], quiet: bool, command: str, label: str,
                    target: str = "live", decode: bool = True, processes: int = 1, workers: int = 1,
                    video: str | None = None, raw: bool = False) -> dict[str, Any]:
    """`tokens` are the subscribers' (for `live`; None for the peer, which has no accounts).

    `workers` > 1: the server is expected to spread the live's viewers over that many media processes
    (start it with LIVE_MEDIA_PROCESSES >= workers and LIVE_MEDIA_VIEWERS_PER_WORKER <= N / workers);
    the report then has loss, fps, first-frame time and CPU per process, and the origin's cost per
    edge (its CPU beyond the publisher alone, measured before any viewer joins, and beyond its own
    viewers at the edges' cost per viewer).

    `raw`: subscribers count RTP on the wire (`loadtest.raw_viewer`), the cheapest viewer there is.

    `video`: a VP8 + Opus WebM file the publisher sends as it is, in a loop (no encoding here: a
    720p encoder would take the generator's core), instead of the test pattern it encodes live."""
    from aiortc import RTCSessionDescription

    from live.media.peers import publisher

    signaling = _target(target, url, room, host_token)
    progress = Progress()
    sampler = procstat.Sampler(server_pids)
    sampler.sample()
    t0 = time.time()
    player = None
    if video is not None:
        from aiortc.contrib.media import MediaPlayer

        player = MediaPlayer(video, decode=False, loop=True)
        pub_pc, offer = await publisher(video=player.video, audio=player.audio, codec="VP8")
    else:
        pub_pc, offer = await publisher(size=size, bitrate=PUBLISHER_BITRATE)
    answer = await signaling.publish(offer)
    await pub_pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    sampler.refresh()  # the media processes a server starts when media is first needed
    base: dict[int, float] = {}
    if workers > 1:
        # the publisher alone: what the origin spends before any viewer or edge
        await asyncio.sleep(1.0)
        sampler.sample()
        samples: dict[int, list[float]] = {}
        for _ in range(3):
            await asyncio.sleep(1.0)
            for pid, (pct, _) in sampler.sample().items():
                samples.setdefault(pid, []).append(pct)
        base = {pid: sum(v) / len(v) for pid, v in samples.items()}

    n = len(tokens)
    offsets = [ramp * i / max(1, n) for i in range(n)]
    groups: list[SubscriberGroup | ProcessGroup] = []
    if processes <= 1:
        groups.append(SubscriberGroup(target, url, room, tokens, offsets, decode, raw))
    else:
        # round-robin, so every process joins subscribers all along the ramp
        for p in range(min(processes, n)):
            groups.append(ProcessGroup({"target": target, "url": url, "room": room, "tokens": tokens[p::processes],
                                        "offsets": offsets[p::processes], "decode": decode, "raw": raw}))
    for group in groups:
        group.start()

    timeline: list[dict[str, Any]] = []
    gen_cpu: dict[str, list[tuple[float, float]]] = {str(w): [] for w in range(len(groups) + (processes > 1))}
    warnings: list[str] = []
    warned: set[str] = set()
    last_wall, last_cpu = time.time(), time.process_time()
    window: dict[str, float] = {}
    phase_end = time.time() + ramp + FIRST_FRAME_TIMEOUT
    measuring = False
    prev_frames = 0
    while True:
        await asyncio.sleep(1.0)
        now, cpu = time.time(), time.process_time()
        statuses = [g.status() for g in groups]
        # process "0" is this one (the publisher, and the subscribers when there is one process)
        cpus = [100.0 * (cpu - last_cpu) / max(1e-6, now - last_wall)] + [s["cpu"] for s in statuses if "cpu" in s]
        last_wall, last_cpu = now, cpu
        for w, pct in enumerate(cpus):
            gen_cpu[str(w)].append((round(now, 3), round(pct, 1)))
        server = sampler.sample()
        connected = sum(s["connected"] for s in statuses)
        frames = sum(s["frames"] for s in statuses)
        point = {"t": round(now, 3), "connected": connected, "delivered_per_s": frames - prev_frames,
                 "delivered": frames, "server_cpu": round(sum(c for c, _ in server.values()), 1),
                 "server_rss": sum(r for _, r in server.values()), "generator_cpu": [round(c, 1) for c in cpus],
                 "machine_cpu": sampler.machine[0], "steal": sampler.machine[1]}
        prev_frames = frames
        timeline.append(point)
        for w, pct in enumerate(cpus):
            if pct > CPU_WARN and measuring and str(w) not in warned:
                warned.add(str(w))
                what = "decoding" if decode else "receiving"
                warnings.append(f"!!! generator process {w} is at {pct:.0f}% CPU {what} video: it may be the "
                                "bottleneck; use more --processes or machines"
                                + (" or --no-decode" if decode else ""))
                progress.loud(warnings[-1])
        if not quiet:
            progress.line(f"[{now - t0:5.0f}s] media | subscribers {connected}/{n} fail "
                          f"{sum(s['failed'] for s in statuses)} | video {point['delivered_per_s']} frames/s | gen cpu "
                          f"{'/'.join(f'{c:.0f}' for c in cpus)}% | server cpu {point['server_cpu']:.0f}% "
                          f"rss {point['server_rss'] / 1e6:.0f} MB")
        if not measuring and (all(s["joined"] for s in statuses) or now >= phase_end):
            measuring = True
            window["send_start"] = now
            window["send_end"] = now + duration
            await asyncio.gather(*(g.mark() for g in groups))
        elif measuring and now >= window["send_end"]:
            break
    progress.done()
    results = await asyncio.gather(*(g.finish() for g in groups))
    await signaling.close()
    await pub_pc.close()
    if player is not None:
        for track in (player.video, player.audio):
            if track is not None:
                track.stop()
    result = _result(results, sampler, window, timeline, gen_cpu, warnings, t0, n, {
        "target": target, "label": label, "command": command, "config": {
            "url": url, "room": room, "subscribers": n, "size": f"{size[0]}x{size[1]}", "ramp": ramp,
            "duration": duration, "decode": decode, "raw": raw, "processes": len(groups) + (processes > 1),
            "publisher_bitrate": None if video else PUBLISHER_BITRATE, "video": video, "workers": workers}})
    result["summary"]["by_worker"] = by_worker(results, result["summary"]["server"], base, signaling.origin)
    used = len(result["summary"]["by_worker"])
    if workers > 1 and used < workers:
        result["warnings"].append(f"!!! the viewers landed on {used} media process(es), not {workers}: start the "
                                  f"server with LIVE_MEDIA_PROCESSES>={workers} and LIVE_MEDIA_VIEWERS_PER_WORKER<="
                                  f"{max(1, n // workers)}")
        progress.loud(result["warnings"][-1])
    if workers > 1:
        result["summary"]["tree"] = tree_costs(result["summary"]["by_worker"])
    return result


def by_worker(groups: list[dict[str, Any]], servers: list[dict[str, Any]], base: dict[int, float],
              origin: str) -> dict[str, dict[str, Any]]:
    """Loss, fps, first frame and CPU of each media process the viewers were placed on."""
    cpu_of = {procstat.worker_id(int(p["pid"])): p for p in servers}
    out: dict[str, dict[str, Any]] = {}
    for g in groups:
        for worker, fps, loss in zip(g.get("workers") or [], g["fps"], g["loss"], strict=False):
            row = out.setdefault(worker, {"subscribers": 0, "fps": [], "loss": [], "first": Histogram()})
            row["subscribers"] += 1
            row["fps"].append(fps)
            row["loss"].append(loss)
        for worker, hist in (g.get("first_by_worker") or {}).items():
            out.setdefault(worker, {"subscribers": 0, "fps": [], "loss": [], "first": Histogram()})["first"].merge(
                Histogram.from_json(hist))
    if origin and origin not in out:
        out[origin] = {"subscribers": 0, "fps": [], "loss": [], "first": Histogram()}
    summary: dict[str, dict[str, Any]] = {}
    for worker, row in sorted(out.items()):
        proc = cpu_of.get(worker)
        first = row["first"].summary_ms()
        summary[worker] = {
            "origin": worker == origin, "subscribers": row["subscribers"],
            "fps_avg": round(sum(row["fps"]) / len(row["fps"]), 1) if row["fps"] else 0.0,
            "loss_pct_avg": round(sum(row["loss"]) / len(row["loss"]), 2) if row["loss"] else 0.0,
            "loss_pct_max": round(max(row["loss"]), 2) if row["loss"] else 0.0,
            "first_frame_ms": {k: first[k] for k in ("p50", "p99") if k in first},
            "pid": proc["pid"] if proc else None,
            "cpu_avg": proc["cpu_avg"] if proc else None,
            "cpu_publisher_only": round(base.get(int(proc["pid"]), 0.0), 1) if proc else None,
        }
    return summary


def tree_costs(workers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-viewer cost at the edges, and what each edge costs its origin (in % of a core, and in viewers)."""
    edges = [w for w in workers.values() if not w["origin"] and w["cpu_avg"] is not None]
    origin = next((w for w in workers.values() if w["origin"] and w["cpu_avg"] is not None), None)
    viewers_at_edges = sum(w["subscribers"] for w in edges)
    if not edges or origin is None or not viewers_at_edges:
        return {}
    per_viewer = sum(w["cpu_avg"] for w in edges) / viewers_at_edges
    extra = origin["cpu_avg"] - (origin["cpu_publisher_only"] or 0.0) - origin["subscribers"] * per_viewer
    per_edge = extra / len(edges)
    return {"edges": len(edges), "cpu_per_viewer_pct": round(per_viewer, 3),
            "origin_cpu_per_edge_pct": round(per_edge, 3),
            "edge_cost_in_viewers": round(per_edge / per_viewer, 2) if per_viewer > 0 else None}


def _result(groups: list[dict[str, Any]], sampler: procstat.Sampler, window: dict[str, float],
            timeline: list[dict[str, Any]], gen_cpu: dict[str, list[tuple[float, float]]], warnings: list[str],
            t0: float, n: int, about: dict[str, Any]) -> dict[str, Any]:
    fps = [x for g in groups for x in g["fps"]]
    kbps = [x for g in groups for x in g["kbps"]]
    loss = [x for g in groups for x in g["loss"]]
    connected = sum(g["connected"] for g in groups)
    failed: dict[str, int] = {}
    first = Histogram()
    phases = {name: Histogram() for name in PHASES}
    for g in groups:
        for key, count in g["failed"].items():
            failed[key] = failed.get(key, 0) + count
        first.merge(Histogram.from_json(g["first"]))
        for name in PHASES:
            phases[name].merge(Histogram.from_json(g["phases"][name]))
    servers = []
    for proc in sampler.to_json():
        w = [x for x in proc["samples"] if window["send_start"] <= x[0] <= window["send_end"]] or proc["samples"]
        if w:
            servers.append({"pid": proc["pid"], "name": proc["name"],
                            "cpu_avg": round(sum(x[1] for x in w) / len(w), 1),
                            "cpu_max": max(x[1] for x in w), "rss_max": max(x[2] for x in proc["samples"]),
                            "rss_median": sorted(x[2] for x in w)[len(w) // 2]})
    server_cpu = sum(p["cpu_avg"] for p in servers)
    in_window = [
        c for samples in gen_cpu.values() for t, c in samples if window["send_start"] <= t <= window["send_end"]
    ]
    summary = {
        "subscribers": n, "connected": connected, "failed": sum(failed.values()),
        "fps_avg": round(sum(fps) / len(fps), 1) if fps else 0.0, "fps_min": round(min(fps), 1) if fps else 0.0,
        "kbps_avg": round(sum(kbps) / len(kbps)) if kbps else 0,
        "loss_pct_avg": round(sum(loss) / len(loss), 2) if loss else 0.0,
        "loss_pct_max": round(max(loss), 2) if loss else 0.0, "first_frame_ms": first.summary_ms(),
        "first_frame_phases_ms": {name: {k: v for k, v in h.summary_ms().items() if k in ("p50", "p99")}
                                  for name, h in phases.items()},
        "server": servers, "server_cpu_avg": round(server_cpu, 1),
        "server_cpu_per_subscriber": round(server_cpu / connected, 2) if connected else None,
        "generator_cpu_max": max(in_window, default=0.0),
    }
    return {
        "tool": "loadtest", "format": 1, "scenario": "media", **about,
        "started_at": dt.datetime.fromtimestamp(t0, dt.UTC).isoformat(timespec="seconds"), "shards": ["0/1"],
        "machine": machine_info(), "windows": {"t0": t0, **window, "end": time.time()},
        "counters": {"failed": failed}, "latency": first.to_json(), "timeline": timeline,
        "generator": {"processes": len(gen_cpu), "cpu": gen_cpu}, "server": {"processes": sampler.to_json()},
        "warnings": warnings, "summary": summary,
    }
