"""The three places where aiortc is bent into a packet forwarder (and nothing else is).

aiortc is an endpoint: its receiver decodes every frame on a thread, its sender encodes every
frame it is given. A relay needs neither. The patch points, all on single connections the relay
owns (never on the class, so a client in the same process keeps decoding):

1. `PassThroughReceiver`: the receiver's class is swapped right after the offer is applied (before
   DTLS completes, so before `receive()` runs). Its `receive()` is the stock one minus the decoder
   thread: the jitter buffer's complete encoded frames go to an `EncodedSink`, which turns them into
   `Frame`s (pts in the codec's clock, keyframe flag read once here) and hands them to the relay on
   the event loop, where they already are. Stopping (BYE, disconnect, close) puts `None`, which the sink turns into
   "publisher ended". Its `_handle_rtp_packet` remembers the media SSRC so the relay can send PLI.
2. `ForwardingSender` (`live.media.sender`): the viewer's sender forwards prepared payloads and
   tells the relay of a viewer's PLI or FIR instead of flagging a local encoder.
3. `restrict_codecs`: the negotiated codec list of a transceiver is narrowed to one codec (plus its
   RTX) after the offer is applied, so the publisher sends one known codec and every subscriber
   receives that same codec.

These touch aiortc's private (name-mangled) receiver attributes; `check_aiortc()` verifies they
exist at start-up so an incompatible aiortc fails loudly instead of silently decoding.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters

from live.media.frames import Frame, is_keyframe

log = logging.getLogger("live.media")

_P = "_RTCRtpReceiver__"  # the mangled prefix of RTCRtpReceiver's private attributes
_NEEDED = ("started", "codecs", "rtx_ssrc", "decoder_queue", "decoder_thread", "transport", "rtcp_task")

# (frame or None at the end) -> None, called on the relay's event loop
FrameHandler = Callable[[Frame | None], None]


def check_aiortc() -> None:
    """Fail at start-up, not mid-live, if aiortc's receiver no longer has the fields we patch."""
    probe = RTCRtpReceiver.__new__(RTCRtpReceiver)
    init_names = RTCRtpReceiver.__init__.__code__.co_names
    missing = [n for n in _NEEDED if f"{_P}{n}" not in init_names]
    if missing or not hasattr(probe, "_run_rtcp"):
        raise RuntimeError(f"aiortc {missing} changed: the pass-through relay needs aiortc 1.10-1.x")


class EncodedSink:
    """Stands in for the decoder queue and thread: complete encoded frames go to `handler`."""

    def __init__(self, handler: FrameHandler, clock_rate: int, codec: str) -> None:
        self.handler = handler
        self.clock_rate = clock_rate
        self.codec = codec  # 'VP8', 'H264' or 'opus' (is_keyframe's names)
        self.frames = 0
        self.closed = False

    # the decoder queue's interface -------------------------------------------------------------
    def put(self, task: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if task is None:
            self._close()
            return
        if self.closed:
            return
        _codec, encoded = task
        data = encoded.data
        self.frames += 1
        try:
            self.handler(Frame(data, encoded.timestamp, is_keyframe(self.codec, data)))
        except Exception:
            log.exception("forwarding a frame failed")

    # the decoder thread's interface ------------------------------------------------------------
    def join(self, timeout: float | None = None) -> None:
        pass

    def is_alive(self) -> bool:
        return not self.closed

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.handler(None)
            except Exception:
                log.exception("ending a publication failed")


class FlooredEstimator:
    """aiortc's delay-based receive-side bandwidth estimate (sent to the publisher as REMB), never
    below `floor` bits/s.

    The estimate times each packet when the relay's event loop gets to it, so a relay busy
    forwarding to many viewers reads its own processing delay as a congested network and asks the
    publisher to slow down (measured: a publisher following REMB fell from about 700 to 200-430
    kbit/s with 50 viewers). The floor keeps that from degrading every viewer's picture; a
    publisher on a truly congested uplink still backs off by its own loss- and delay-based control
    (browsers' send-side estimate; REMB is only an upper bound).
    """

    def __init__(self, inner: Any, floor: int) -> None:
        self.inner = inner
        self.floor = floor

    def add(self, **packet: Any) -> tuple[int, list[int]] | None:
        remb = self.inner.add(**packet)
        if remb is None:
            return None
        bitrate, ssrcs = remb
        return max(int(bitrate), self.floor), ssrcs


class PassThroughReceiver(RTCRtpReceiver):
    """An RTCRtpReceiver whose encoded frames are forwarded instead of decoded (see module doc)."""

    media_ssrc: int | None
    sink: EncodedSink | None

    @classmethod
    def adopt(cls, receiver: RTCRtpReceiver, handler: FrameHandler, clock_rate: int, codec: str,
              min_bitrate: int = 0) -> PassThroughReceiver:
        receiver.__class__ = cls
        assert isinstance(receiver, PassThroughReceiver)
        receiver.media_ssrc = None
        receiver.sink = EncodedSink(handler, clock_rate, codec)
        estimator = getattr(receiver, f"{_P}remote_bitrate_estimator", None)
        if estimator is not None and min_bitrate > 0:
            setattr(receiver, f"{_P}remote_bitrate_estimator", FlooredEstimator(estimator, min_bitrate))
        return receiver

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        # The stock receive() minus the decoder thread (aiortc 1.x, rtcrtpreceiver.py).
        if getattr(self, f"{_P}started"):
            return
        codecs = getattr(self, f"{_P}codecs")
        rtx_ssrc = getattr(self, f"{_P}rtx_ssrc")
        for codec in parameters.codecs:
            codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        setattr(self, f"{_P}decoder_queue", self.sink)
        setattr(self, f"{_P}decoder_thread", self.sink)
        getattr(self, f"{_P}transport")._register_rtp_receiver(self, parameters)
        setattr(self, f"{_P}rtcp_task", asyncio.ensure_future(self._run_rtcp()))
        setattr(self, f"{_P}started", True)

    async def _handle_rtp_packet(self, packet: Any, arrival_time_ms: int) -> None:
        codec = getattr(self, f"{_P}codecs").get(packet.payload_type)
        if codec is not None and not is_rtx(codec):
            self.media_ssrc = packet.ssrc
        await super()._handle_rtp_packet(packet, arrival_time_ms)

    async def request_keyframe(self) -> bool:
        """Send a PLI to the publisher; False while no media has arrived yet (no SSRC known)."""
        if self.media_ssrc is None:
            return False
        await self._send_rtcp_pli(self.media_ssrc)
        return True


def _matches(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    if a.mimeType.lower() != b.mimeType.lower() or a.clockRate != b.clockRate:
        return False
    if a.mimeType.lower() == "video/h264":
        pa, pb = a.parameters, b.parameters
        if str(pa.get("packetization-mode", "0")) != str(pb.get("packetization-mode", "0")):
            return False
        # same profile (constrained baseline is 42e0/4200 family): compare profile_idc
        return str(pa.get("profile-level-id", "42"))[:2].lower() == str(pb.get("profile-level-id", "42"))[:2].lower()
    return True


def restrict_codecs(transceiver: Any, want: RTCRtpCodecParameters | None = None) -> RTCRtpCodecParameters | None:
    """Narrow a transceiver's negotiated codecs to one (plus its RTX): `want` if given, else the
    first the remote offered that we support. Returns the chosen codec, or None if none fits."""
    codecs: list[RTCRtpCodecParameters] = list(transceiver._codecs)
    media = [c for c in codecs if not is_rtx(c)]
    if want is None:
        chosen = media[0] if media else None
    else:
        exact = [c for c in media if _matches(c, want) and c.parameters == want.parameters]
        loose = [c for c in media if _matches(c, want)]
        fits = exact or loose
        chosen = fits[0] if fits else None
    if chosen is None:
        return None
    rtx = [c for c in codecs if is_rtx(c) and c.parameters.get("apt") == chosen.payloadType]
    transceiver._codecs = [chosen, *rtx]
    return chosen
