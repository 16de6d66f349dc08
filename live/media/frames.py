"""An encoded frame as the relay forwards it, and the packetizer that prepares it once for everyone.

A frame arrives from a publisher (or from an origin over a pipe) as bytes with a timestamp in its
codec's clock, which is also the RTP clock (90 kHz video, 48 kHz Opus). Every viewer of the source
gets the same RTP payloads: they are made once, the first time a viewer's sender asks, and kept on
the frame (`payloads`); a replayed copy (a joiner's catch-up, with its own timestamp) shares them.
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder


class Frame:
    """One encoded frame: bytes, timestamp (codec clock), keyframe flag, RTP payloads once made."""

    __slots__ = ("data", "pts", "keyframe", "payloads")

    def __init__(self, data: bytes, pts: int, keyframe: bool, payloads: list[bytes] | None = None) -> None:
        self.data = data
        self.pts = pts
        self.keyframe = keyframe
        self.payloads = payloads

    def __bytes__(self) -> bytes:
        return self.data

    @property
    def size(self) -> int:
        return len(self.data)

    def retimed(self, pts: int) -> Frame:
        """The same frame (and payloads) at another timestamp."""
        return Frame(self.data, pts, self.keyframe, self.payloads)


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own (codec is 'VP8', 'H264' or 'opus')."""
    if codec == "VP8":
        # RFC 6386 9.1: bit 0 of the frame tag is the inverse key frame flag.
        return len(data) > 0 and not data[0] & 0x01
    if codec == "H264":
        # Annex B (as aiortc depayloads it): an IDR slice (5) or SPS (7) in the access unit.
        i, n = 0, len(data)
        while True:
            i = data.find(b"\x00\x00\x01", i, n)
            if i < 0 or i + 3 >= n:
                return False
            nal_type = data[i + 3] & 0x1F
            if nal_type in (5, 7):
                return True
            i += 3
    return True  # audio: every frame stands alone


class Packetizer:
    """Turns a source's frames into RTP payloads (RFC 7741 VP8, RFC 6184 H.264, RFC 7587 Opus)."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.picture_id = 0  # VP8's 15-bit picture id, one per frame of the source
        self._pack: Callable[[bytes], list[bytes]]
        if codec == "VP8":
            self._pack = self._vp8
        elif codec == "H264":
            self._pack = self._h264
        else:
            self._pack = self._whole

    def prepare(self, frame: Frame) -> list[bytes]:
        if frame.payloads is None:
            frame.payloads = self._pack(frame.data)
        return frame.payloads

    def _vp8(self, data: bytes) -> list[bytes]:
        payloads = Vp8Encoder._packetize(data, self.picture_id)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads

    @staticmethod
    def _h264(data: bytes) -> list[bytes]:
        return H264Encoder._packetize(H264Encoder._split_bitstream(data))

    @staticmethod
    def _whole(data: bytes) -> list[bytes]:
        return [data]
