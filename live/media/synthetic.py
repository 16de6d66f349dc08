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
        frame = self.frame_at(self.pts)
        self.pts += self.samples
        return frame

    def frame_at(self, pts: int) -> av.AudioFrame:
        """The tone's samples from `pts` on, as one frame."""
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        offset = (pts % self.rate) * 2
        chunk = self._tone[offset : offset + self.samples * 2]
        if len(chunk) < self.samples * 2:
            chunk += self._tone[: self.samples * 2 - len(chunk)]
        frame.planes[0].update(chunk)
        frame.pts = pts
        frame.sample_rate = self.rate
        frame.time_base = fractions.Fraction(1, self.rate)
        return frame


def write_pattern_webm(path: str, width: int, height: int, seconds: float = 10.0, fps: int = 30,
                       bitrate: int = 1_500_000, keyframe_seconds: float = 1.0) -> None:
    """Encode the moving pattern and the tone once into a VP8 + Opus WebM file.

    A publisher that sends such a file as it is (aiortc's MediaPlayer with decode=False) costs
    next to nothing, where encoding 720p live costs a good part of a core: load generators use it
    so that the publisher's encoder does not take the core the viewers and chat clients need."""
    track = PatternVideoTrack(width, height, fps)
    container = av.open(path, "w", format="webm")
    try:
        video = container.add_stream("libvpx", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = bitrate
        video.options = {"deadline": "realtime", "cpu-used": "8", "g": str(max(1, int(keyframe_seconds * fps))),
                         "keyint_min": str(max(1, int(keyframe_seconds * fps)))}
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        tone = ToneAudioTrack()
        frames = int(seconds * fps)
        for n in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, data in zip(frame.planes, (track._luma(n), track._chroma_u, track._chroma_v), strict=True):
                _fill(plane, data, plane.width)
            frame.pts = n
            frame.time_base = fractions.Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for n in range(int(seconds * tone.rate / tone.samples)):
            for packet in audio.encode(tone.frame_at(n * tone.samples)):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    finally:
        container.close()
