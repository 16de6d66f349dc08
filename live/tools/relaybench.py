"""Measure what the relay costs: CPU of the relay thread per subscriber, with real peers.

    python -m live.tools.relaybench [--subscribers 1,10,20] [--seconds 10] [--size 640x360]

One publisher (test pattern + tone) and N subscribers over loopback, all in this process; the
relay runs on its own thread, whose CPU time is read from /proc (Linux). Subscribers do not
decode here (they drain encoded frames), so the machine's cores go to the relay being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time

from aiortc import RTCPeerConnection, RTCSessionDescription

from live.media.passthrough import PassThroughReceiver
from live.media.peers import publisher
from live.media.relay import Relay, RelayThread

ROOM = "live:bench"


def thread_cpu(native_id: int) -> float:
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


class Drain:
    """A subscriber that counts received frames without decoding them (its receivers forward to a
    counter, the same patch the relay uses), so the cores go to the relay being measured."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.frames = 0
        for kind, clock in (("video", 90000), ("audio", 48000)):
            t = self.pc.addTransceiver(kind, direction="recvonly")
            PassThroughReceiver.adopt(t.receiver, self._count, clock)

    def _count(self, packet: object) -> None:
        if packet is not None:
            self.frames += 1


async def measure(rt: RelayThread, n: int, seconds: float) -> dict[str, float]:
    subs = []
    for i in range(n):
        d = Drain()
        await d.pc.setLocalDescription(await d.pc.createOffer())
        answer = await rt.call(lambda r, d=d, i=i: r.subscribe(ROOM, f"s{i}", "host", d.pc.localDescription.sdp))
        await d.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        subs.append(d)
    await asyncio.sleep(3)  # connections up, keyframes through
    tid = rt.thread.native_id
    assert tid is not None
    c0, t0 = thread_cpu(tid), time.monotonic()
    sent0 = sum(d.frames for d in subs)
    await asyncio.sleep(seconds)
    c1, t1 = thread_cpu(tid), time.monotonic()
    sent1 = sum(d.frames for d in subs)
    for d in subs:
        await d.pc.close()
    await asyncio.sleep(1)
    return {"subscribers": n, "cpu": (c1 - c0) / (t1 - t0), "frames_per_s": (sent1 - sent0) / (t1 - t0)}


async def run(counts: list[int], seconds: float, size: tuple[int, int]) -> None:
    rt = RelayThread(lambda: Relay(media_timeout=30))
    rt.start()
    pc, offer = await publisher(size=size)
    answer = await rt.call(lambda r: r.publish(ROOM, "host", offer))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.sleep(2)
    print(f"{'subscribers':>11} {'relay CPU':>10} {'per subscriber':>15} {'frames recv/s':>13}")
    for n in counts:
        m = await measure(rt, n, seconds)
        per = m["cpu"] / n if n else 0.0
        print(f"{n:>11} {m['cpu'] * 100:>9.1f}% {per * 100:>14.2f}% {m['frames_per_s']:>13.0f}", flush=True)
    await pc.close()
    await asyncio.to_thread(rt.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.tools.relaybench", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", default="1,10,20")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("needs Linux (/proc) to read the relay thread's CPU time", file=sys.stderr)
        return 1
    w, h = (int(x) for x in args.size.split("x"))
    asyncio.run(run([int(x) for x in args.subscribers.split(",")], args.seconds, (w, h)))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
