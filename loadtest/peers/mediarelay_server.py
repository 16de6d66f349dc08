"""The media peer: one publisher's media to many viewers the stock aiortc way, with `MediaRelay`.

aiortc decodes what the publisher sends (`RTCRtpReceiver`'s decoder thread), `MediaRelay` hands
the decoded frames to one proxy track per viewer, and each viewer's `RTCRtpSender` encodes them
again: one decode per publisher, one encode per viewer. This is what the aiortc examples show
and what one would build without a forwarding relay; `live`'s relay forwards the encoded frames
instead (docs/media.md). Video proxies are unbuffered (`buffered=False`: a viewer whose encoder
falls behind skips to the newest frame rather than queueing without bound); audio is buffered.
While the publisher has no viewer, its frames go to a `MediaBlackhole` through the relay, so
decoded frames never pile up. Each viewer's encoder follows that viewer's REMB (aiortc's default:
from 500 kbit/s up); `--video-bitrate` holds them at a fixed bitrate instead, so that viewers get
the bitrate `live` forwards from the publisher (make bench passes the load generator's 1.2 Mbit/s).

HTTP (JSON bodies; every ICE candidate is in the SDP, no trickle; no authentication):

- `POST /publish` {"sdp": offer} -> 200 {"sdp": answer}: the publisher (sendonly audio and/or
  video); a new publisher replaces the old one and ends its viewers' connections.
- `POST /subscribe` {"sdp": offer} -> 200 {"sdp": answer}: a viewer (recvonly); 404 while no one
  publishes.
- `DELETE /publish` -> 204: stop the publisher (and its viewers).
- `GET /healthz` -> 200 {"status": "ok", "publishing": bool, "viewers": n}.

    python -m loadtest.peers.mediarelay_server --port 8091 [--video-bitrate 1200000]
    python -m loadtest media --target mediarelay --url http://127.0.0.1:8091 --subscribers 4
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole, MediaRelay
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from live.media.peers import hold_bitrate


class Broadcast:
    """The publisher's decoded tracks and the viewers' connections that re-encode them."""

    def __init__(self, video_bitrate: int | None = None) -> None:
        self.video_bitrate = video_bitrate
        self.relay = MediaRelay()
        self.publisher: RTCPeerConnection | None = None
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.blackhole: MediaBlackhole | None = None
        self.viewers: set[RTCPeerConnection] = set()

    @staticmethod
    def _pc() -> RTCPeerConnection:
        # No ICE servers: host candidates only, like `live`'s relay by default.
        return RTCPeerConnection(RTCConfiguration(iceServers=[]))

    async def publish(self, offer: str) -> str:
        await self.stop()
        pc = self._pc()
        tracks: dict[str, MediaStreamTrack] = {}

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            tracks.setdefault(track.kind, track)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await pc.close()
            raise
        if not tracks:
            await pc.close()
            raise ValueError("the offer sends neither audio nor video")
        self.publisher, self.tracks = pc, tracks
        self.blackhole = MediaBlackhole()
        for track in tracks.values():
            self.blackhole.addTrack(self.relay.subscribe(track))
        await self.blackhole.start()

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed") and self.publisher is pc:
                await self.stop()

        return str(pc.localDescription.sdp)

    async def subscribe(self, offer: str) -> str:
        if self.publisher is None:
            raise LookupError("no one is publishing")
        pc = self._pc()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            for transceiver in pc.getTransceivers():
                track = self.tracks.get(transceiver.kind)
                if track is not None:
                    sender = pc.addTrack(self.relay.subscribe(track, buffered=track.kind != "video"))
                    if track.kind == "video" and self.video_bitrate:
                        hold_bitrate(sender, self.video_bitrate)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await pc.close()
            raise
        self.viewers.add(pc)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.viewers.discard(pc)
                await pc.close()

        return str(pc.localDescription.sdp)

    async def stop(self) -> None:
        publisher, self.publisher = self.publisher, None
        viewers, self.viewers = self.viewers, set()
        for pc in viewers:
            await pc.close()
        if self.blackhole is not None:
            await self.blackhole.stop()
            self.blackhole = None
        self.tracks = {}
        if publisher is not None:
            await publisher.close()


async def _offer(request: Request) -> str:
    try:
        body = await request.json()
        sdp = body["sdp"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("expected a JSON body {\"sdp\": offer}") from None
    if not isinstance(sdp, str) or "v=0" not in sdp[:64]:
        raise ValueError("sdp is not an SDP offer")
    return sdp


def build_app(video_bitrate: int | None = None) -> Starlette:
    broadcast = Broadcast(video_bitrate)

    async def publish(request: Request) -> Response:
        if request.method == "DELETE":
            await broadcast.stop()
            return Response(status_code=204)
        try:
            return JSONResponse({"sdp": await broadcast.publish(await _offer(request))})
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def subscribe(request: Request) -> Response:
        try:
            return JSONResponse({"sdp": await broadcast.subscribe(await _offer(request))})
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "publishing": broadcast.publisher is not None,
                             "viewers": len(broadcast.viewers)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await broadcast.stop()

    app = Starlette(routes=[Route("/publish", publish, methods=["POST", "DELETE"]),
                            Route("/subscribe", subscribe, methods=["POST"]),
                            Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)
    app.state.broadcast = broadcast
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m loadtest.peers.mediarelay_server",
                                     description="aiortc's stock MediaRelay, re-encoding per viewer (the media peer)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--video-bitrate", type=int, default=None, metavar="BPS",
                        help="hold every viewer's video encoder at this bitrate (default: follow REMB)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(build_app(args.video_bitrate), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
