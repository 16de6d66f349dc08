"""Go live and publish a moving test pattern and a tone (or a video file) over the WebSocket.

    python -m live.tools.publish --url http://127.0.0.1:8080 --token T --community C \\
        --title "Hello" [--video FILE] [--codec vp8|h264] [--seconds N] [--live LID]

Creates the live (unless `--live` names one already running), joins its room, sends
`media.publish` with an aiortc offer, and prints what is being sent each second until Ctrl-C (or
`--seconds`). A WebM file with VP8 and Opus is sent as it is (no decoding, no encoding); any other
file is decoded and re-encoded here, on the publishing side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription

from live.client import LiveClient, RequestFailed
from live.media.peers import prefer_codec, publisher


def _file_tracks(path: str) -> tuple[Any, str | None]:
    """A MediaPlayer for `path` (decode=False when the file is already VP8 + Opus) and its codec."""
    import av
    from aiortc.contrib.media import MediaPlayer

    with av.open(path) as probe:
        video = probe.streams.video[0].codec_context.name if probe.streams.video else None
        audio = probe.streams.audio[0].codec_context.name if probe.streams.audio else None
    passthrough = video == "vp8" and audio in (None, "opus")
    player = MediaPlayer(path, decode=not passthrough, loop=True)
    return player, ("VP8" if passthrough else None)


async def _create_live(url: str, token: str, community: str, title: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}) as http:
        resp = await http.post(f"/v1/communities/{community}/live", json={"title": title})
        if resp.status_code != 201:
            raise SystemExit(f"could not go live: {resp.status_code} {resp.text}")
        live: dict[str, Any] = resp.json()
        return live


async def run(args: argparse.Namespace) -> int:
    if args.live:
        live = {"id": args.live, "room": f"live:{args.live}"}
    else:
        if not args.community:
            raise SystemExit("--community is required unless --live is given")
        live = await _create_live(args.url, args.token, args.community, args.title)
    room = live["room"]
    print(f"live {live['id']} (room {room})", flush=True)
    client = await LiveClient.connect(args.url, args.token)
    await client.request("room.join", room=room)
    if args.video:
        player, codec = _file_tracks(args.video)
        pc = RTCPeerConnection()
        if player.video:
            pc.addTransceiver(player.video, direction="sendonly")
        if player.audio:
            pc.addTransceiver(player.audio, direction="sendonly")
        if codec or args.codec:
            prefer_codec(pc, "video", codec or args.codec)
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
    else:
        w, h = (int(x) for x in args.size.split("x"))
        pc, offer = await publisher(codec=args.codec, size=(w, h))
    try:
        reply = await client.request("media.publish", room=room, sdp=offer, timeout=30)
    except RequestFailed as exc:
        print(f"publishing refused: {exc.code}: {exc}", file=sys.stderr)
        await pc.close()
        await client.close()
        return 1
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
    started = time.monotonic()
    try:
        while args.seconds is None or time.monotonic() - started < args.seconds:
            await asyncio.sleep(1)
            stats = await pc.getStats()
            sent = {s.kind: (s.packetsSent, s.bytesSent) for s in stats.values() if s.type == "outbound-rtp"}
            line = "  ".join(f"{k}: {p} packets {b // 1024} KiB" for k, (p, b) in sorted(sent.items()))
            print(f"{time.monotonic() - started:5.0f}s  {pc.connectionState}  {line}", flush=True)
            if pc.connectionState in ("failed", "closed"):
                return 1
    finally:
        with contextlib.suppress(Exception):
            await client.request("media.stop", room=room)
        await pc.close()
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.tools.publish", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", required=True)
    parser.add_argument("--community", help="community id to go live in")
    parser.add_argument("--title", default="Test pattern")
    parser.add_argument("--live", help="publish into this running live instead of creating one")
    parser.add_argument("--video", help="a video file to send instead of the test pattern")
    parser.add_argument("--codec", choices=["vp8", "h264"], help="video codec to offer (default: VP8)")
    parser.add_argument("--size", default="640x360", help="test pattern size, WxH")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
