"""The two codec conversions HLS needs, made once per live on the HLS writer's thread.

- Audio: WebRTC sends Opus; HLS players (Safari, iOS and Android players, hls.js) all play AAC in
  fMP4, while Opus there is patchy outside Chromium and Firefox. Opus is decoded and encoded to
  AAC-LC (48 kHz stereo, 128 kbit/s): about 1-2% of a core per live.
- Video: an H.264 host is never decoded (its packets are remuxed as they are). A VP8 host is
  decoded and encoded to H.264 by libx264 (veryfast, zerolatency) at the host's picture size, with
  a keyframe at every segment boundary this side chooses: one encode per live, whatever the
  number of viewers.
"""

from __future__ import annotations

import fractions
from typing import Any

import av

from live.media.hls_mux import AUDIO_CLOCK, VIDEO_CLOCK

AAC_BITRATE = 128_000
X264_OPTIONS = {
    "preset": "veryfast",
    "tune": "zerolatency",
    "profile": "main",
    "crf": "23",
    "maxrate": "2500k",
    "bufsize": "2500k",
    "forced-idr": "1",
    # keyframes only where `transcode(force_keyframe=True)` asks; SPS/PPS in each of them
    "x264-params": "keyint=infinite:scenecut=0:repeat-headers=1",
}


class AudioTranscoder:
    """Opus packets in, AAC packets out (pts in 1/48000 throughout)."""

    def __init__(self) -> None:
        self.decoder: Any = av.CodecContext.create("opus", "r")
        self.decoder.sample_rate = AUDIO_CLOCK
        self.decoder.layout = "stereo"
        self.encoder: Any = av.CodecContext.create("aac", "w")
        self.encoder.sample_rate = AUDIO_CLOCK
        self.encoder.layout = "stereo"
        self.encoder.format = "fltp"
        self.encoder.bit_rate = AAC_BITRATE
        self.encoder.time_base = fractions.Fraction(1, AUDIO_CLOCK)
        self.encoder.open()
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_CLOCK,
                                           frame_size=self.encoder.frame_size)

    @property
    def extradata(self) -> bytes:
        return bytes(self.encoder.extradata or b"")

    def transcode(self, data: bytes, pts: int) -> list[tuple[bytes, int]]:
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = fractions.Fraction(1, AUDIO_CLOCK)
        out: list[tuple[bytes, int]] = []
        for frame in self.decoder.decode(packet):
            frame.pts = pts  # one Opus packet, one frame: keep the RTP clock's timing
            frame.time_base = fractions.Fraction(1, AUDIO_CLOCK)
            for chunk in self.resampler.resample(frame):
                for encoded in self.encoder.encode(chunk):
                    if encoded.pts is not None:
                        out.append((bytes(encoded), int(encoded.pts)))
        return out


class VideoTranscoder:
    """VP8 packets in, H.264 (Annex B) packets out, at the size of the first picture."""

    def __init__(self) -> None:
        self.decoder: Any = av.CodecContext.create("vp8", "r")
        self.encoder: Any = None
        self.size: tuple[int, int] | None = None

    def transcode(self, data: bytes, pts: int, force_keyframe: bool) -> list[tuple[bytes, int, bool]]:
        out: list[tuple[bytes, int, bool]] = []
        for frame in self.decoder.decode(av.Packet(data)):
            if self.encoder is None:
                self._open(frame.width, frame.height)
            assert self.size is not None
            if (frame.width, frame.height) != self.size or frame.format.name != "yuv420p":
                # the host changed its picture size: keep one rendition, scale to the first
                frame = frame.reformat(width=self.size[0], height=self.size[1], format="yuv420p")
            frame.pts = pts
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
            frame.pict_type = av.video.frame.PictureType.I if force_keyframe else av.video.frame.PictureType.NONE
            for encoded in self.encoder.encode(frame):
                out.append((bytes(encoded), int(encoded.pts), bool(encoded.is_keyframe)))
        return out

    def _open(self, width: int, height: int) -> None:
        width, height = max(2, width // 2 * 2), max(2, height // 2 * 2)
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = width, height
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        encoder.framerate = fractions.Fraction(30, 1)
        encoder.options = dict(X264_OPTIONS)
        encoder.thread_count = 1  # one live, one core's slice: never starve the relay
        encoder.open()
        self.encoder = encoder
        self.size = (width, height)
