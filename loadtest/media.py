"""The media scenario: one publisher (synthetic video + Opus tone) and N aiortc subscribers, in
one generator process, through `live` (the gateway's `media.publish` / `media.subscribe`) or
through the stock-`MediaRelay` peer (loadtest/peers/mediarelay_server.py, plain HTTP).

By default every subscriber decodes what it receives, as a viewer's browser would, so the
generator's CPU grows fast with N and is reported beside the server's: past one core the
generator, not the relay, sets the figures. With `decode=False` (`--no-decode`) subscribers only
count complete encoded frames (`CountingSubscriber`: RTP, SRTP, jitter buffer, NACK and PLI as
usual, no decoder), so one process holds many and the run measures the relay's capacity.
Per subscriber: video frames per second over the measured window, bitrate and packet loss from
its RTP receiver statistics, and the time from creating its offer to its first video frame
(decoded, or complete when not decoding). Server CPU per subscriber is the server's average CPU
over the window divided by the subscribers connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any

from loadtest import procstat
from loadtest.hdr import Histogram
from loadtest.runner import CPU_WARN, Progress, machine_info

FIRST_FRAME_TIMEOUT = 20.0
# The publisher's video is held at this bitrate (the "about 1-1.5 Mbit/s") instead of
# following the server's REMB, so that every target relays the same stream (see `hold_bitrate`).
PUBLISHER_BITRATE = 1_200_000
TARGETS = ("live", "mediarelay")
PHASES = ("offer", "answer", "connect", "first_frame")


class LiveTarget:
    """`live`: each subscriber is a member with its own WebSocket, joined to the live's room."""

    name = "live"

    def __init__(self, url: str, host: Any, room: str) -> None:
        self.url, self.host, self.room = url, host, room
        self.host_client: Any = None

    async def publish(self, offer: str) -> str:
        from live.client import LiveClient

        self.host_client = await LiveClient.connect(self.url, self.host.token, encoding="msgpack")
        await self.host_client.request("room.join", room=self.room)
        reply = await self.host_client.request("media.publish", room=self.room, sdp=offer, timeout=30)
        return str(reply["sdp"])

    async def join(self, viewer: Any) -> Any:
        from live.client import LiveClient

        client = await LiveClient.connect(self.url, viewer.token, encoding="msgpack")
        await client.request("room.join", room=self.room)
        return client

    async def subscribe(self, handle: Any, offer: str) -> str:
        reply = await handle.request("media.subscribe", room=self.room, sdp=offer, timeout=30)
        return str(reply["sdp"])

    async def leave(self, handle: Any) -> None:
        await handle.close()

    async def close(self) -> None:
        if self.host_client is not None:
            with contextlib.suppress(Exception):
                await self.host_client.request("media.stop", room=self.room)
            await self.host_client.close()


class MediaRelayTarget:
    """The stock-`MediaRelay` peer: offers and answers over `POST /publish` and `POST /subscribe`."""

    name = "mediarelay"

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30)

    async def _post(self, path: str, offer: str) -> str:
        response = await self.http.post(path, json={"sdp": offer})
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:80]}")
        return str(response.json()["sdp"])

    async def publish(self, offer: str) -> str:
        return await self._post("/publish", offer)

    async def join(self, viewer: Any) -> Any:
        return None

    async def subscribe(self, handle: Any, offer: str) -> str:
        return await self._post("/subscribe", offer)

    async def leave(self, handle: Any) -> None:
        pass

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.http.delete("/publish")
        await self.http.aclose()


async def _stats(pc: Any) -> tuple[int, int, int]:
    """(video packets received, video packets lost, bytes received over the transport: audio and
    video) of a subscriber; aiortc's receiver statistics carry no byte counts per stream."""
    report = await pc.getStats()
    got = lost = size = 0
    for s in report.values():
        if s.type == "inbound-rtp" and getattr(s, "kind", "") == "video":
            got += int(getattr(s, "packetsReceived", 0) or 0)
            lost += max(0, int(getattr(s, "packetsLost", 0) or 0))
        elif s.type == "transport":
            size += int(getattr(s, "bytesReceived", 0) or 0)
    return got, lost, size


async def run_media(url: str, host: Any, viewers: list[Any], room: str, *, size: tuple[int, int], ramp: float,
                    duration: float, server_pids: list[int], quiet: bool, command: str, label: str,
                    target: str = "live", decode: bool = True) -> dict[str, Any]:
    """`viewers` are the subscribers' identities (for `live`; anything for the peer, only counted)."""
    from aiortc import RTCSessionDescription

    from live.media.peers import CountingSubscriber, Subscriber, publisher

    if target not in TARGETS:
        raise ValueError(f"the media scenario's targets are {', '.join(TARGETS)}")
    signaling: LiveTarget | MediaRelayTarget = LiveTarget(url, host, room) if target == "live" else MediaRelayTarget(url)
    progress = Progress()
    sampler = procstat.Sampler(server_pids)
    sampler.sample()
    t0 = time.time()
    pub_pc, offer = await publisher(size=size, bitrate=PUBLISHER_BITRATE)
    answer = await signaling.publish(offer)
    await pub_pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    first = Histogram()
    # where a first frame's time goes: the offer (ICE gathering), the server's answer (signaling
    # and its own gathering), the connection (ICE checks and DTLS), then the first video frame
    phases = {name: Histogram() for name in PHASES}
    failed: dict[str, int] = {}
    subs: list[tuple[Any, Any]] = []

    async def one(i: int, viewer: Any) -> None:
        await asyncio.sleep(ramp * i / max(1, len(viewers)))
        try:
            client = await signaling.join(viewer)
            sub = Subscriber() if decode else CountingSubscriber()
            marks = {"asked": time.monotonic()}

            @sub.pc.on("connectionstatechange")
            def _connected(pc: Any = sub.pc) -> None:
                if pc.connectionState == "connected":
                    marks.setdefault("connect", time.monotonic())

            offer = await sub.offer()
            marks["offer"] = time.monotonic()
            answer = await signaling.subscribe(client, offer)
            marks["answer"] = time.monotonic()
            await sub.accept(answer)
            subs.append((client, sub))
            if await sub.wait_video(1, FIRST_FRAME_TIMEOUT) and sub.received.first_video_at is not None:
                marks["first_frame"] = sub.received.first_video_at
                first.record(int((marks["first_frame"] - marks["asked"]) * 1e6))
                previous = marks["asked"]
                for name in PHASES:
                    at = marks.get(name, previous)
                    phases[name].record(max(0, int((at - previous) * 1e6)))
                    previous = at
            else:
                failed["no video within 20 s"] = failed.get("no video within 20 s", 0) + 1
        except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
            key = f"{type(exc).__name__}: {str(exc)[:60]}"
            failed[key] = failed.get(key, 0) + 1

    timeline: list[dict[str, Any]] = []
    gen_cpu: list[tuple[float, float]] = []
    warnings: list[str] = []
    last_wall, last_cpu = time.time(), time.process_time()
    joins = asyncio.gather(*(one(i, v) for i, v in enumerate(viewers)))
    window: dict[str, float] = {}
    frames_before: dict[int, int] = {}
    stats_before: dict[int, tuple[int, int, int]] = {}
    phase_end = time.time() + ramp + FIRST_FRAME_TIMEOUT
    measuring = False
    prev_frames = 0
    while True:
        await asyncio.sleep(1.0)
        now, cpu = time.time(), time.process_time()
        pct = 100.0 * (cpu - last_cpu) / max(1e-6, now - last_wall)
        last_wall, last_cpu = now, cpu
        gen_cpu.append((round(now, 3), round(pct, 1)))
        server = sampler.sample()
        frames = sum(s.received.frames["video"] for _, s in subs)
        point = {"t": round(now, 3), "connected": len(subs), "delivered_per_s": frames - prev_frames,
                 "delivered": frames, "server_cpu": round(sum(c for c, _ in server.values()), 1),
                 "server_rss": sum(r for _, r in server.values()), "generator_cpu": [round(pct, 1)],
                 "machine_cpu": sampler.machine[0], "steal": sampler.machine[1]}
        prev_frames = frames
        timeline.append(point)
        if pct > CPU_WARN and measuring and not warnings:
            what = "decoding" if decode else "receiving"
            warnings.append(f"!!! the generator process is at {pct:.0f}% CPU {what} {len(subs)} streams: "
                            "it may be the bottleneck; split subscribers over machines"
                            + ("" if not decode else " or use --no-decode"))
            progress.loud(warnings[-1])
        if not quiet:
            progress.line(f"[{now - t0:5.0f}s] media | subscribers {len(subs)}/{len(viewers)} fail "
                          f"{sum(failed.values())} | video {point['delivered_per_s']} frames/s | gen cpu {pct:.0f}% "
                          f"| server cpu {point['server_cpu']:.0f}% rss {point['server_rss'] / 1e6:.0f} MB")
        if not measuring and (joins.done() or now >= phase_end):
            measuring = True
            window["send_start"] = now
            window["send_end"] = now + duration
            for _, s in subs:
                frames_before[id(s)] = s.received.frames["video"]
                stats_before[id(s)] = await _stats(s.pc)
        elif measuring and now >= window["send_end"]:
            break
    progress.done()
    fps, kbps, loss = [], [], []
    span = max(1e-6, time.time() - window["send_start"])
    for _, s in subs:
        fps.append((s.received.frames["video"] - frames_before.get(id(s), 0)) / span)
        got, lost, size_b = await _stats(s.pc)
        g0, l0, b0 = stats_before.get(id(s), (0, 0, 0))
        kbps.append((size_b - b0) * 8 / span / 1000)
        loss.append(100.0 * (lost - l0) / max(1, (got - g0) + (lost - l0)))
    joins.cancel()
    with contextlib.suppress(BaseException):
        await joins
    for client, s in subs:
        await s.close()
        await signaling.leave(client)
    await signaling.close()
    await pub_pc.close()

    servers = []
    for proc in sampler.to_json():
        w = [x for x in proc["samples"] if window["send_start"] <= x[0] <= window["send_end"]] or proc["samples"]
        if w:
            servers.append({"pid": proc["pid"], "name": proc["name"], "cpu_avg": round(sum(x[1] for x in w) / len(w), 1),
                            "cpu_max": max(x[1] for x in w), "rss_max": max(x[2] for x in proc["samples"]),
                            "rss_median": sorted(x[2] for x in w)[len(w) // 2]})
    summary = {
        "subscribers": len(viewers), "connected": len(subs), "failed": sum(failed.values()),
        "fps_avg": round(sum(fps) / len(fps), 1) if fps else 0.0, "fps_min": round(min(fps), 1) if fps else 0.0,
        "kbps_avg": round(sum(kbps) / len(kbps)) if kbps else 0, "loss_pct_avg": round(sum(loss) / len(loss), 2) if loss else 0.0,
        "loss_pct_max": round(max(loss), 2) if loss else 0.0, "first_frame_ms": first.summary_ms(),
        "first_frame_phases_ms": {name: {k: v for k, v in h.summary_ms().items() if k in ("p50", "p99")}
                                  for name, h in phases.items()},
        "server": servers, "server_cpu_avg": round(sum(p["cpu_avg"] for p in servers), 1),
        "server_cpu_per_subscriber": round(sum(p["cpu_avg"] for p in servers) / len(subs), 2) if subs else None,
        "generator_cpu_max": max((c for t, c in gen_cpu if window["send_start"] <= t <= window["send_end"]), default=0.0),
    }
    return {
        "tool": "loadtest", "format": 1, "scenario": "media", "target": target, "label": label, "command": command,
        "started_at": dt.datetime.fromtimestamp(t0, dt.UTC).isoformat(timespec="seconds"), "shards": ["0/1"],
        "machine": machine_info(), "config": {"url": url, "room": room, "subscribers": len(viewers),
                                              "size": f"{size[0]}x{size[1]}", "ramp": ramp, "duration": duration,
                                              "decode": decode, "publisher_bitrate": PUBLISHER_BITRATE},
        "windows": {"t0": t0, **window, "end": time.time()}, "counters": {"failed": failed},
        "latency": first.to_json(), "timeline": timeline,
        "generator": {"processes": 1, "cpu": {"0": gen_cpu}}, "server": {"processes": sampler.to_json()},
        "warnings": warnings, "summary": summary,
    }
