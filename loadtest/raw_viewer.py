"""The cheapest WebRTC viewer a load generator can run: RTP counted on the wire (`--raw`).

A real peer (aiortc: ICE, DTLS, the SRTP keys) until its transport is up; from then on, every
datagram that is RTP is counted where it arrives, at the UDP protocol, instead of climbing
aioice's queue, the DTLS transport, SRTP `unprotect`, the RTP parser and the jitter buffer. An RTP
header travels in the clear under SRTP, so what a relay's capacity is measured by is all there:

- **frames**: video packets with the marker bit (the last packet of a frame), audio packets (one
  Opus frame each); the first video frame's arrival time (the relay starts every viewer at a
  keyframe);
- **loss**: per media SSRC, the packets its sequence numbers say were sent against those that
  arrived (RFC 3550's expected and received, wrap-around included);
- **bytes**: every datagram's size.

What it gives up: the payload is neither decrypted nor authenticated, and it sends no NACK and no
PLI (a relay that drops a viewer's packets is seen as loss, never repaired), no receiver reports.
A `CountingSubscriber` (`--no-decode`) keeps all of that, at about ten times the generator's CPU
per viewer; a `Subscriber` decodes, as a browser would.
"""

from __future__ import annotations

import time
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from live.media.peers import Received


class _Stream:
    __slots__ = ("base", "top", "received", "video")

    def __init__(self, seq: int, video: bool) -> None:
        self.base = self.top = seq  # extended sequence numbers (with the wrap-arounds counted)
        self.received = 0
        self.video = video


class RawCountingSubscriber:
    """A recvonly peer counting RTP as it arrives (see the module's docstring)."""

    def __init__(self, config: RTCConfiguration | None = None) -> None:
        self.pc = RTCPeerConnection(config)
        self.received = Received()
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.streams: dict[int, _Stream] = {}  # by SSRC, media streams only
        self.video_types: set[int] = set()
        self.audio_types: set[int] = set()
        self.bytes = 0
        self.hooked = 0

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self._hook()
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        for transceiver in self.pc.getTransceivers():
            for codec in transceiver._codecs:
                if codec.mimeType.lower().endswith("/rtx"):
                    continue
                (self.video_types if transceiver.kind == "video" else self.audio_types).add(codec.payloadType)

    def _hook(self) -> None:
        """Count RTP at each of the ICE connection's UDP protocols (gathered with the offer)."""
        dtls = self.pc.getTransceivers()[0].receiver.transport
        for protocol in dtls.transport._connection._protocols:
            protocol.datagram_received = self._counter(protocol.datagram_received)
            self.hooked += 1

    def _counter(self, passed: Any) -> Any:
        r, streams, video, audio = self.received, self.streams, self.video_types, self.audio_types
        frames = r.frames

        def datagram_received(data: bytes, addr: Any) -> None:
            if len(data) < 12 or not 128 <= data[0] < 192:
                passed(data, addr)  # STUN, DTLS
                return
            second = data[1]
            if 192 <= second <= 223:
                return  # RTCP (sender reports): nothing to count
            self.bytes += len(data)
            kind = second & 0x7F
            is_video = kind in video
            if is_video:
                if second & 0x80:
                    frames["video"] += 1
                    if r.first_video_at is None:
                        r.first_video_at = time.monotonic()
                    r.event.set()
            elif kind in audio:
                frames["audio"] += 1
            else:
                return  # a retransmission (none is asked for) or a type not negotiated
            ssrc = int.from_bytes(data[8:12], "big")
            seq = (data[2] << 8) | data[3]
            stream = streams.get(ssrc)
            if stream is None:
                stream = streams[ssrc] = _Stream(seq, is_video)
            else:
                ahead = (seq - stream.top) & 0xFFFF
                if ahead < 0x8000:
                    stream.top += ahead
            stream.received += 1

        return datagram_received

    def counts(self) -> tuple[int, int, int]:
        """(video packets expected, video packets received, RTP bytes received): as `_stats` reads
        a decoding subscriber's."""
        expected = received = 0
        for stream in self.streams.values():
            if stream.video:
                expected += stream.top - stream.base + 1
                received += stream.received
        return expected, received, self.bytes

    async def wait_video(self, frames: int, timeout: float) -> bool:
        return await self.received.wait_video(frames, timeout)

    async def close(self) -> None:
        await self.pc.close()

