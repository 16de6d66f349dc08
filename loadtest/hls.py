"""`python -m loadtest hls`: N cheap HTTP viewers of one live's HLS, as a player would fetch it.

Each viewer is a coroutine with its own keep-alive HTTP/1.1 connection (a minimal client on
asyncio streams: a few kilobytes and no per-request objects, so thousands fit in one process). It
gets its viewer id from the playlist's redirect, fetches the init segment, then loops: a blocking
playlist reload for the next segment (`_HLS_msn`, as hls.js does with CAN-BLOCK-RELOAD), and the
new segment. It models a player that starts one segment behind the newest and plays in real time:

- **segment fetch latency**: from sending the request to the last byte of the segment;
- **stalls**: the modelled playhead reached the end of what was fetched before the next segment
  arrived (the buffer ran dry); counted per viewer, the playhead then waits;
- **glass to glass**: `(t_fetched - PDT) + d` per segment, where PDT is the segment's
  EXT-X-PROGRAM-DATE-TIME (the wall-clock time its first frame reached the relay), t_fetched the
  wall clock when its last byte arrived, and d its duration: the player that holds one segment
  shows that first frame d after it has it. It leaves out the host's capture, encode and uplink
  (tens of milliseconds on a LAN, measured on the WebRTC path);
- **server CPU**: the app node's processes, sampled from /proc (loadtest.procstat).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import sys
import time
import urllib.parse
from typing import Any

from loadtest.procstat import Sampler

_SEGMENT = re.compile(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)\n(?:#EXT-X-PART:[^\n]*\n)*#EXTINF:([\d.]+),\n(s\d+\.m4s)")


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection that GETs paths (Content-Length bodies only)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                return await self._get(target)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, target: str) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclasses.dataclass
class Totals:
    fetch_ms: list[float] = dataclasses.field(default_factory=list)
    g2g_s: list[float] = dataclasses.field(default_factory=list)
    segments: int = 0
    playlists: int = 0
    bytes: int = 0
    stalls: int = 0
    stalled_viewers: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = dataclasses.field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors += 1
        self.error_kinds[what] = self.error_kinds.get(what, 0) + 1


def _pdt(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def viewer(host: str, port: int, base: str, query: str, until: float, totals: Totals, start_at: float) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    conn = Connection(host, port)
    stalls = 0
    try:
        status, headers, _ = await conn.get(f"{base}index.m3u8{query}")
        if status != 302:
            totals.error(f"playlist {status}")
            return
        playlist = base + headers["location"]
        fetched_init: set[str] = set()
        last_msn = -1
        buffered = 0.0  # seconds of media fetched since playback began
        play_start: float | None = None
        directive = ""
        while time.monotonic() < until:
            status, _, body = await conn.get(playlist + directive)
            totals.playlists += 1
            if status != 200:
                totals.error(f"playlist {status}")
                await asyncio.sleep(1)
                continue
            text = body.decode("ascii")
            if "#EXT-X-ENDLIST" in text:
                break
            for init in re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text):
                if init not in fetched_init:
                    status, _, data = await conn.get(base + init)
                    fetched_init.add(init)
                    totals.bytes += len(data)
            seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
            listed = [(seq + i, _pdt(p), float(d), uri) for i, (p, d, uri) in enumerate(_SEGMENT.findall(text))]
            if not listed:
                directive = ""
                await asyncio.sleep(0.5)
                continue
            if last_msn < 0:
                last_msn = listed[-1][0] - 1  # join at the newest segment
            for msn, pdt, duration, uri in listed:
                if msn <= last_msn:
                    continue
                sent = time.monotonic()
                status, _, data = await conn.get(base + uri)
                done = time.monotonic()
                last_msn = msn
                if status != 200:
                    totals.error(f"segment {status}")
                    continue
                totals.segments += 1
                totals.bytes += len(data)
                totals.fetch_ms.append((done - sent) * 1000)
                totals.g2g_s.append(time.time() - pdt + duration)
                if play_start is None:
                    play_start = done + duration  # hold one segment, then play
                else:
                    playhead = done - play_start
                    if playhead > buffered:  # ran dry before this segment came
                        stalls += 1
                        play_start += playhead - buffered
                buffered += duration
            directive = ("&" if "?" in playlist else "?") + f"_HLS_msn={last_msn + 1}"
    except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
        totals.error(type(exc).__name__)
    finally:
        conn.close()
        totals.stalls += stalls
        totals.stalled_viewers += 1 if stalls else 0


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run_hls(url: str, lid: str, viewers: int, duration: float, *, token: str | None = None, ramp: float = 2.0,
                  server_pids: list[int] | None = None, quiet: bool = False) -> dict[str, Any]:
    """Run the scenario; the result as a JSON-ready dict."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    base = f"/v1/live/{lid}/hls/"
    query = "?" + urllib.parse.urlencode({"token": token}) if token else ""
    totals = Totals()
    sampler = Sampler(server_pids or [])
    begin = time.monotonic()
    until = begin + ramp + duration
    tasks = [asyncio.create_task(viewer(host, port, base, query, until, totals, begin + ramp * i / max(1, viewers)))
             for i in range(viewers)]
    cpu: list[float] = []
    own: list[float] = []  # this generator's CPU: past ~90% of its core, it (not the server) may set the figures
    last_cpu, last_wall = time.process_time(), time.monotonic()
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1.0)
        now = time.monotonic()
        sample = sampler.sample()
        used = time.process_time()
        if now - begin > ramp:
            own.append(100.0 * (used - last_cpu) / max(1e-6, now - last_wall))
            if sample:
                cpu.append(sum(pct for pct, _ in sample.values()))
        last_cpu, last_wall = used, now
        if not quiet:
            print(f"\r{now - begin:5.0f}s segments {totals.segments} playlists {totals.playlists} "
                  f"errors {totals.errors} server cpu {cpu[-1] if cpu else 0:.0f}%", end="", file=sys.stderr)
        if now > until + 15:
            for t in tasks:
                t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if not quiet:
        print(file=sys.stderr)
    return {
        "scenario": "hls", "url": url, "live": lid, "viewers": viewers, "duration": duration, "ramp": ramp,
        "segments": totals.segments, "playlists": totals.playlists, "bytes": totals.bytes,
        "segment_fetch_ms": {p: _pct(totals.fetch_ms, n) for p, n in (("p50", 50), ("p95", 95), ("p99", 99))},
        "glass_to_glass_s": {p: _pct(totals.g2g_s, n) for p, n in (("p50", 50), ("p95", 95), ("p99", 99))},
        "stalls": totals.stalls, "stalled_viewers": totals.stalled_viewers,
        "errors": totals.errors, "error_kinds": totals.error_kinds,
        "server_cpu_percent": round(sum(cpu) / len(cpu), 1) if cpu else None,
        "server_processes": sampler.to_json(),
        "generator_cpu_percent": round(sum(own) / len(own), 1) if own else None,
        "generator_cpu_max": round(max(own), 1) if own else None,
        "warnings": [f"!!! the generator used up to {max(own):.0f}% of its core: past about 90% it, not the server, "
                     "may cause the stalls and the fetch times; spread the viewers over processes or machines"]
        if own and max(own) > 90 else [],
    }


def table(result: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f} ms"

    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    f, g = result["segment_fetch_ms"], result["glass_to_glass_s"]
    rows = [
        ("viewers", str(result["viewers"])),
        ("segments fetched", str(result["segments"])),
        ("segment fetch p50 / p95 / p99", f"{ms(f['p50'])} / {ms(f['p95'])} / {ms(f['p99'])}"),
        ("glass to glass p50 / p95 / p99", f"{s(g['p50'])} / {s(g['p95'])} / {s(g['p99'])}"),
        ("stalls (viewers stalled)", f"{result['stalls']} ({result['stalled_viewers']})"),
        ("errors", f"{result['errors']} {result['error_kinds'] or ''}".strip()),
        (
            "server CPU (% of one core)",
            "-" if result["server_cpu_percent"] is None else f"{result['server_cpu_percent']}%",
        ),
        ("generator CPU (avg / max)", f"{result.get('generator_cpu_percent')}% / {result.get('generator_cpu_max')}%"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join([f"{k.ljust(width)}  {v}" for k, v in rows] + list(result.get("warnings") or []))
