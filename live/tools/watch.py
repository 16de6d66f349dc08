"""Watch a live: subscribe over the WebSocket and print the frames received each second.

    python -m live.tools.watch --url http://127.0.0.1:8080 --token T --live LID [--publisher U] [--seconds N]

Frames are decoded here, as a viewer's browser would, so the numbers are frames a person would see.
Renegotiates when the server says `media.restart`, and waits for `media.published` when nothing is
being sent yet.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from live.client import LiveClient, RequestFailed
from live.media.peers import Subscriber


async def _subscribe(client: LiveClient, room: str, publisher: str | None) -> Subscriber:
    sub = Subscriber()
    fields = {"room": room, "sdp": await sub.offer()}
    if publisher:
        fields["publisher"] = publisher
    reply = await client.request("media.subscribe", timeout=30, **fields)
    await sub.accept(reply["sdp"])
    return sub


async def _wait_for(client: LiveClient, room: str, types: tuple[str, ...], timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await client.next_event(timeout=left, room=room)
        except TimeoutError:
            return None
        if event.get("type") in types:
            return str(event["type"])
    return None


async def run(args: argparse.Namespace) -> int:
    room = f"live:{args.live}"
    client = await LiveClient.connect(args.url, args.token)
    await client.request("room.join", room=room)
    started = time.monotonic()
    sub: Subscriber | None = None
    try:
        while args.seconds is None or time.monotonic() - started < args.seconds:
            if sub is None:
                try:
                    sub = await _subscribe(client, room, args.publisher)
                except RequestFailed as exc:
                    if exc.code != "not_found":
                        print(f"cannot watch: {exc.code}: {exc}", file=sys.stderr)
                        return 1
                    print("nothing is being sent yet; waiting for media.published", flush=True)
                    await _wait_for(client, room, ("media.published",), 30)
                    continue
            before = dict(sub.received.frames)
            kind = await _wait_for(client, room, ("media.restart", "media.unpublished", "room.closed"), 1.0)
            got = sub.received
            size = "x".join(str(v) for v in sorted(got.sizes)[-1]) if got.sizes else "-"
            print(f"{time.monotonic() - started:5.0f}s  video {got.frames['video'] - before['video']:3d} fps"
                  f"  audio {got.frames['audio'] - before['audio']:3d} frames/s  size {size}", flush=True)
            if kind in ("media.restart", "media.unpublished") or got.ended:
                print(f"{kind or 'media ended'}: negotiating again", flush=True)
                await sub.close()
                sub = None
            elif kind == "room.closed":
                return 0
    finally:
        if sub is not None:
            await sub.close()
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.tools.watch", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", required=True)
    parser.add_argument("--live", required=True, help="the live's id")
    parser.add_argument("--publisher", help="whose media to watch (default: the host)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
