"""Measure what the relay costs: CPU of the relay thread per subscriber, with real peers.

    python -m live.tools.relaybench [--subscribers 1,10,20,40] [--seconds 10] [--size 640x360]

One publisher (test pattern + tone) in this process, the relay on its own thread here, and N
subscribers in a separate process (so their cost does not land on the relay's process) over
loopback. Subscribers do not decode: their receivers count encoded frames through the same patch
the relay uses. The relay thread's CPU time is read from /proc (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

from aiortc import RTCSessionDescription

from live.media.peers import CountingSubscriber, publisher
from live.media.relay import Relay, RelayThread

ROOM = "live:bench"


def thread_cpu(native_id: int) -> float:
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _subscribers(conn: Connection) -> None:
    """Child process: on ("open", n) make n counting (non-decoding) subscribers and trade offers
    for answers; ("count",) -> frames so far; ("close",) closes them; ("exit",)."""

    async def main() -> None:
        drains: list[CountingSubscriber] = []
        loop = asyncio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg[0] == "open":
                new = [CountingSubscriber() for _ in range(msg[1])]
                for d in new:
                    await d.pc.setLocalDescription(await d.pc.createOffer())
                conn.send([d.pc.localDescription.sdp for d in new])
                answers = await loop.run_in_executor(None, conn.recv)
                for d, answer in zip(new, answers, strict=True):
                    await d.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
                drains += new
                conn.send("ok")
            elif msg[0] == "count":
                conn.send(sum(sum(d.received.frames.values()) for d in drains))
            elif msg[0] == "close":
                for d in drains:
                    await d.pc.close()
                drains = []
                conn.send("ok")
            else:
                return

    asyncio.run(main())


def _subscribe(user_id: str, offer: str) -> Callable[[Relay], Coroutine[Any, Any, str]]:
    return lambda relay: relay.subscribe(ROOM, user_id, "host", offer)


async def measure(rt: RelayThread, conn: Connection, n: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    conn.send(("open", n))
    offers = await loop.run_in_executor(None, conn.recv)
    answers = []
    for i, offer in enumerate(offers):
        answers.append(await rt.call(_subscribe(f"s{i}", offer)))
    conn.send(answers)
    await loop.run_in_executor(None, conn.recv)
    await asyncio.sleep(3)  # connections up, keyframes through
    tid = rt.thread.native_id
    assert tid is not None
    conn.send(("count",))
    f0 = await loop.run_in_executor(None, conn.recv)
    c0, t0 = thread_cpu(tid), time.monotonic()
    await asyncio.sleep(seconds)
    c1, t1 = thread_cpu(tid), time.monotonic()
    conn.send(("count",))
    f1 = await loop.run_in_executor(None, conn.recv)
    conn.send(("close",))
    await loop.run_in_executor(None, conn.recv)
    await asyncio.sleep(1)
    return {"cpu": (c1 - c0) / (t1 - t0), "frames_per_s": (f1 - f0) / (t1 - t0)}


async def run(counts: list[int], seconds: float, size: tuple[int, int]) -> None:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_subscribers, args=(child,), daemon=True)
    proc.start()
    rt = RelayThread(lambda: Relay(media_timeout=30))
    rt.start()
    pc, offer = await publisher(size=size)
    answer = await rt.call(lambda r: r.publish(ROOM, "host", offer))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.sleep(2)
    print(f"{'subscribers':>11} {'relay CPU':>10} {'per subscriber':>15} {'frames recv/s':>14}")
    for n in counts:
        m = await measure(rt, parent, n, seconds)
        per = m["cpu"] / n if n else 0.0
        print(f"{n:>11} {m['cpu'] * 100:>9.1f}% {per * 100:>14.2f}% {m['frames_per_s']:>14.0f}", flush=True)
    parent.send(("exit",))
    proc.join(10)
    await pc.close()
    await asyncio.to_thread(rt.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.tools.relaybench", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", default="1,10,20,40")
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
    sys.exit(main())
