"""A moving test pattern and a tone: media for the publish tool and the tests, without a camera.

Frames are built from bytes (no numpy): a diagonal gradient that scrolls one step per frame, with
a bright bar whose position encodes the frame number, so a receiver can tell frames change.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import struct
import time

import av
from aiortc import MediaStreamTrack

VIDEO_CLOCK = 90000


class PatternVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, width: int = 320, height: int = 180, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.frame_no = 0
        self._start: float | None = None
        # one luma row twice as long as the picture: scrolling is a slice
        self._row = bytes((x * 255 // max(1, width)) & 0xFF for x in range(width)) * 2
        self._chroma_u = bytes([96]) * ((width // 2) * (height // 2))
        self._chroma_v = bytes([160]) * ((width // 2) * (height // 2))

    def _luma(self, n: int) -> bytes:
        w, h = self.width, self.height
        rows = []
        bar = (n * 4) % h
        for y in range(h):
            if bar <= y < bar + 8:
                rows.append(b"\xeb" * w)
            else:
                k = (n * 3 + y) % w
                rows.append(self._row[k : k + w])
        return b"".join(rows)

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        n = self.frame_no
        target = self._start + n / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        planes = (self._luma(n), self._chroma_u, self._chroma_v)
        for plane, data in zip(frame.planes, planes, strict=True):
            _fill(plane, data, plane.width)
        frame.pts = n * (VIDEO_CLOCK // self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frame_no += 1
        return frame


def _fill(plane: av.video.plane.VideoPlane, data: bytes, width: int) -> None:
    """Copy tightly packed rows into a plane whose line size may be padded."""
    if plane.line_size == width:
        plane.update(data)
        return
    rows = len(data) // width
    pad = b"\x00" * (plane.line_size - width)
    plane.update(b"".join(data[i * width : (i + 1) * width] + pad for i in range(rows)))


class ToneAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, hz: float = 440.0, rate: int = 48000, ptime: float = 0.02) -> None:
        super().__init__()
        self.rate = rate
        self.samples = int(rate * ptime)
        self.pts = 0
        self._start: float | None = None
        period = rate  # one second of tone, looped: an integer number of cycles at 440 Hz
        self._tone = struct.pack(
            f"<{period}h", *(int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(period))
        )

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self.pts / self.rate
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        offset = (self.pts % self.rate) * 2
        chunk = self._tone[offset : offset + self.samples * 2]
        if len(chunk) < self.samples * 2:
            chunk += self._tone[: self.samples * 2 - len(chunk)]
        frame.planes[0].update(chunk)
        frame.pts = self.pts
        frame.sample_rate = self.rate
        frame.time_base = fractions.Fraction(1, self.rate)
        self.pts += self.samples
        return frame
