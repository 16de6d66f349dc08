"""Client-side WebRTC peers for the tools and the tests: a publisher of the test pattern (or a
file), a subscriber that decodes what it receives and keeps count, and one that only counts the
encoded frames (to measure a relay without paying for decoding)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket

from live.media.passthrough import PassThroughReceiver
from live.media.synthetic import PatternVideoTrack, ToneAudioTrack


def receive_counts(receiver: Any) -> tuple[int, int]:
    """(packets expected, packets received) on the media streams an RTCRtpReceiver has heard,
    its retransmission (RTX) streams left out: the figures packet loss is computed from.

    Not from getStats(): aiortc writes one inbound-rtp entry per receiver, once per SSRC it has
    heard, so as soon as a retransmission stream appears (the receiver asked for lost packets
    again) the entry describes that stream instead of the media: a window read from it runs
    backwards, and a saturated run reported a loss of minus thousands of percent. These are the
    receiver's own per-SSRC statistics (RFC 3550 counters: expected from the sequence numbers,
    received counting every arrival), read the way `live.media.passthrough` reads its state."""
    streams = getattr(receiver, "_RTCRtpReceiver__remote_streams", {})
    rtx = getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {})
    media = [stream for ssrc, stream in streams.items() if ssrc not in rtx]
    if not rtx and len(media) > 1:
        # No retransmission SSRC was signalled: the media stream is the one that carried most.
        media = [max(media, key=lambda stream: stream.packets_received)]
    return (sum(stream.packets_expected for stream in media), sum(stream.packets_received for stream in media))


def prefer_codec(pc: RTCPeerConnection, kind: str, name: str) -> None:
    """Offer only `name` (e.g. 'H264', 'VP8') for `kind` on every transceiver of that kind."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in caps if c.mimeType.split("/")[1].lower() == name.lower()]
    if not chosen:
        raise ValueError(f"no {kind} codec named {name}")
    for transceiver in pc.getTransceivers():
        if transceiver.kind == kind:
            transceiver.setCodecPreferences(chosen)


async def publisher(
    *,
    video: MediaStreamTrack | None = None,
    audio: MediaStreamTrack | None = None,
    codec: str | None = None,
    size: tuple[int, int] = (320, 180),
    config: RTCConfiguration | None = None,
    bitrate: int | None = None,
) -> tuple[RTCPeerConnection, str]:
    """A sendonly peer with the test pattern and tone (unless tracks are given); returns its offer.
    With `bitrate` (bits/s) the video encoder is held there instead of following REMB."""
    pc = RTCPeerConnection(config)
    sender = pc.addTransceiver(video or PatternVideoTrack(*size), direction="sendonly").sender
    if bitrate is not None:
        hold_bitrate(sender, bitrate)
    pc.addTransceiver(audio or ToneAudioTrack(), direction="sendonly")
    if codec:
        prefer_codec(pc, "video", codec)
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def hold_bitrate(sender: RTCRtpSender, bitrate: int) -> None:
    """Keep a video sender's encoder at `bitrate` whatever the receiver estimates (REMB).

    A load generator's publisher must send the same stream to every server it is compared on:
    left to REMB, aiortc starts at 500 kbit/s and follows the receiver's delay-based estimate,
    which a busy receiver (its own processing delay looks like queueing) pulls down. The encoder
    is set on each REMB, the first of which comes within about a second."""
    handle = sender._handle_rtcp_packet

    async def _handle(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            encoder = getattr(sender, "_RTCRtpSender__encoder", None)
            if encoder is not None and hasattr(encoder, "target_bitrate"):
                encoder.target_bitrate = bitrate
            return
        await handle(packet)

    sender._handle_rtcp_packet = _handle  # type: ignore[method-assign]


@dataclasses.dataclass
class Received:
    """What a subscriber decoded: counts per kind, the video size, distinct pictures, timings."""

    frames: dict[str, int] = dataclasses.field(default_factory=lambda: {"audio": 0, "video": 0})
    sizes: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    pictures: set[bytes] = dataclasses.field(default_factory=set)
    first_video_at: float | None = None
    ended: bool = False
    event: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def video_fps_since(self, count: int, since: float) -> float:
        return (self.frames["video"] - count) / max(1e-6, time.monotonic() - since)

    async def wait_video(self, frames: int, timeout: float) -> bool:
        """Until `frames` video frames were counted in all (True), or `timeout` passed (False)."""
        deadline = time.monotonic() + timeout
        while self.frames["video"] < frames:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.event.wait(), left)
        return True


class Subscriber:
    """A recvonly peer that decodes every frame (as a viewer's browser would) and counts them."""

    def __init__(self, config: RTCConfiguration | None = None, *, keep_pictures: int = 50) -> None:
        self.pc = RTCPeerConnection(config)
        self.received = Received()
        self.keep_pictures = keep_pictures
        self.tasks: list[asyncio.Task[None]] = []
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        r = self.received
        try:
            while True:
                frame: Any = await track.recv()
                r.frames[track.kind] += 1
                if track.kind == "video":
                    if r.first_video_at is None:
                        r.first_video_at = time.monotonic()
                    r.sizes.add((frame.width, frame.height))
                    if len(r.pictures) < self.keep_pictures:
                        r.pictures.add(hashlib.blake2b(bytes(frame.planes[0]), digest_size=8).digest())
                r.event.set()
        except MediaStreamError:
            r.ended = True
            r.event.set()

    async def wait_video(self, frames: int, timeout: float) -> bool:
        return await self.received.wait_video(frames, timeout)

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()


class CountingSubscriber(Subscriber):
    """A recvonly peer that counts complete encoded frames instead of decoding them.

    Its receivers are the relay's own `PassThroughReceiver`: RTP, SRTP, the jitter buffer, NACK
    and PLI work as in a decoding viewer, but the frames the decoder would get are only counted.
    One process holds many of them, so a load generator measures the relay, not its own decoders.
    `received.sizes` and `received.pictures` stay empty; `first_video_at` is the first complete
    encoded video frame (the relay starts every viewer at a keyframe).
    """

    def __init__(self, config: RTCConfiguration | None = None) -> None:
        super().__init__(config, keep_pictures=0)
        for transceiver in self.pc.getTransceivers():
            clock, codec = (90000, "VP8") if transceiver.kind == "video" else (48000, "opus")
            # (the codec name only decides how keyframes are spotted, which counting does not need)
            PassThroughReceiver.adopt(transceiver.receiver, self._counter(transceiver.kind), clock, codec)

    def _counter(self, kind: str) -> Callable[[Any], None]:
        r = self.received

        def count(packet: Any) -> None:
            if packet is None:
                r.ended = True
            else:
                r.frames[kind] += 1
                if kind == "video" and r.first_video_at is None:
                    r.first_video_at = time.monotonic()
            r.event.set()

        return count

    def _on_track(self, track: MediaStreamTrack) -> None:
        pass  # nothing is decoded, so the tracks never yield frames
