"""fMP4 (CMAF) fragments of one rendition, muxed by PyAV's mp4 muxer into memory.

FFmpeg's mp4 muxer does the container work (avcC, esds, moof/traf/trun, Annex B to length
prefixes). It is told to write an empty `moov` (the init segment) and then a fragment at every
video keyframe and whenever a track has gathered `part_seconds` of media
(`frag_keyframe`, `frag_duration`), flushing each to our sink at once (`flush_packets`). A
fragment is written when the packet that starts the next one arrives, so it leaves the muxer one
frame after its last sample.

This module only reads the boxes back (`moof` -> start, duration, does it begin with a keyframe)
so that the HLS writer can name parts and cut segments; it never rewrites them.
"""

from __future__ import annotations

import dataclasses
import fractions
import io
import struct
from collections.abc import Iterator
from typing import Any

import av

VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
_NON_SYNC = 0x10000  # sample_is_non_sync_sample in ISO/IEC 14496-12 sample flags


@dataclasses.dataclass(frozen=True, slots=True)
class VideoConfig:
    """An H.264 track: picture size and the SPS/PPS (Annex B) the init segment carries."""

    width: int
    height: int
    parameter_sets: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class AudioConfig:
    """An AAC track: its AudioSpecificConfig (the encoder's extradata)."""

    extradata: bytes
    sample_rate: int = AUDIO_CLOCK
    layout: str = "stereo"


@dataclasses.dataclass(frozen=True, slots=True)
class Fragment:
    """One moof+mdat: a part of a segment, in seconds of the rendition's media time."""

    data: bytes
    start: float
    duration: float
    independent: bool  # its first video sample is a keyframe (or it holds no video at all)


def h264_parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS NAL units of an Annex B access unit, as Annex B."""
    out = []
    for nal in annexb_nals(data):
        if nal and nal[0] & 0x1F in (7, 8):
            out.append(b"\x00\x00\x00\x01" + nal)
    return b"".join(out)


def annexb_nals(data: bytes) -> Iterator[bytes]:
    starts = []
    i = 0
    while (i := data.find(b"\x00\x00\x01", i)) >= 0:
        starts.append(i + 3)
        i += 3
    for k, start in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        yield data[start:end].rstrip(b"\x00")


def avc_codec_string(parameter_sets: bytes) -> str:
    """RFC 6381 codec of the SPS: `avc1.PPCCLL` (profile, constraint flags, level in hex)."""
    for nal in annexb_nals(parameter_sets):
        if nal and nal[0] & 0x1F == 7 and len(nal) >= 4:
            return f"avc1.{nal[1]:02x}{nal[2]:02x}{nal[3]:02x}"
    return "avc1.42e01f"


def aac_codec_string(extradata: bytes) -> str:
    """RFC 6381 codec of an AudioSpecificConfig: `mp4a.40.<audio object type>`."""
    aot = extradata[0] >> 3 if extradata else 2
    return f"mp4a.40.{aot or 2}"


class _Sink(io.RawIOBase):
    """Where the muxer writes: chunks kept until the writer takes them."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class Fmp4Muxer:
    """One init segment and its fragments: feed packets, get the fragments they complete."""

    def __init__(self, video: VideoConfig, audio: AudioConfig | None, part_seconds: float) -> None:
        self.codecs = avc_codec_string(video.parameter_sets)
        if audio is not None:
            self.codecs += "," + aac_codec_string(audio.extradata)
        self.resolution = (video.width, video.height)
        self._sink = _Sink()
        # Parts must not exceed the part target: the muxer cuts at the first sample past
        # frag_duration, so ask for a little less (a frame at 15 fps fits in the 20%).
        frag_us = max(100_000, int(part_seconds * 800_000)) if part_seconds > 0 else 60_000_000
        self._container: Any = av.open(
            self._sink, "w", format="mp4",
            options={
                "movflags": "empty_moov+default_base_moof+frag_keyframe+frag_discont",
                "frag_duration": str(frag_us),
                "flush_packets": "1",
            },
        )
        self._video: Any = self._container.add_stream("h264", rate=30)
        self._video.width, self._video.height = video.width, video.height
        self._video.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._video.codec_context.extradata = video.parameter_sets
        self._audio: Any = None
        if audio is not None:
            self._audio = self._container.add_stream("aac", rate=audio.sample_rate)
            self._audio.layout = audio.layout
            self._audio.time_base = fractions.Fraction(1, audio.sample_rate)
            self._audio.codec_context.extradata = audio.extradata
        self._container.start_encoding()
        self.init: bytes = b""
        self._timescales: dict[int, int] = {}
        self._video_track = 1
        self._defaults: dict[int, tuple[int, int]] = {}  # track -> trex (duration, flags)
        self._pending = b""
        self._closed = False
        self._last_dts: dict[str, int] = {}
        self._first: dict[str, int] = {}
        self._shift: dict[int, int] = {}  # track -> where it starts on the rendition's timeline
        self._audio_track = 2
        self._audio_clock = audio.sample_rate if audio is not None else AUDIO_CLOCK
        self._take()  # the header may already be out

    def mux(self, kind: str, data: bytes, pts: int, keyframe: bool, duration: int) -> list[Fragment]:
        """Add one packet (pts in 1/90000 for video, 1/48000 for audio); the fragments it completed."""
        stream = self._video if kind == "video" else self._audio
        if stream is None or self._closed:
            return []
        if pts <= self._last_dts.get(kind, -1):
            return []  # never back in time within a track: the muxer would refuse it
        self._last_dts[kind] = pts
        if kind not in self._first:
            self._first[kind] = pts
            origin = self._first.get("video", pts)
            track = self._video_track if kind == "video" else self._audio_track
            clock = VIDEO_CLOCK if kind == "video" else self._audio_clock
            self._shift[track] = max(0, round((pts / clock - origin / VIDEO_CLOCK) * clock))
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.duration = duration
        packet.time_base = stream.time_base
        packet.stream = stream
        packet.is_keyframe = keyframe
        self._container.mux(packet)
        return self._take()

    def close(self) -> list[Fragment]:
        """Flush the last fragment and close the muxer."""
        if self._closed:
            return []
        self._closed = True
        self._container.close()
        return self._take()

    # -- reading back what the muxer wrote ---------------------------------------------------------
    def _take(self) -> list[Fragment]:
        data = self._pending + self._sink.take()
        out: list[Fragment] = []
        pos = 0
        moof: tuple[int, int] | None = None
        for kind, start, end in _boxes(data, 0, len(data)):
            if kind in (b"ftyp", b"moov"):
                self.init += data[start:end]
                if kind == b"moov":
                    self._read_moov(data[start + 8:end])
                pos = end
            elif kind == b"moof":
                moof = (start, end)
            elif kind == b"mdat" and moof is not None:
                out.append(self._fragment(bytearray(data[moof[0]:end]), moof[1] - moof[0]))
                moof = None
                pos = end
            elif moof is None:
                pos = end  # anything else between fragments (none expected) is skipped
        self._pending = data[pos:]
        return out

    def _read_moov(self, moov: bytes) -> None:
        for kind, start, end in _boxes(moov, 0, len(moov)):
            if kind == b"trak":
                track_id, timescale, handler = 0, 0, b""
                for k2, s2, _e2 in _walk(moov, start + 8, end, (b"mdia", b"minf")):
                    if k2 == b"tkhd":
                        version = moov[s2 + 8]
                        off = s2 + 12 + (16 if version == 1 else 8)
                        track_id = struct.unpack_from(">I", moov, off)[0]
                    elif k2 == b"mdhd":
                        version = moov[s2 + 8]
                        off = s2 + 12 + (16 if version == 1 else 8)
                        timescale = struct.unpack_from(">I", moov, off)[0]
                    elif k2 == b"hdlr":
                        handler = moov[s2 + 16:s2 + 20]
                self._timescales[track_id] = timescale or 1
                if handler == b"vide":
                    self._video_track = track_id
                elif handler == b"soun":
                    self._audio_track = track_id
            elif kind == b"mvex":
                for k2, s2, _ in _boxes(moov, start + 8, end):
                    if k2 == b"trex":
                        track_id, _desc, duration, _size, flags = struct.unpack_from(">IIIII", moov, s2 + 12)
                        self._defaults[track_id] = (duration, flags)

    def _fragment(self, data: bytearray, moof_size: int) -> Fragment:
        tracks: dict[int, tuple[float, float, bool]] = {}
        for kind, start, end in _boxes(data, 8, moof_size):
            if kind == b"traf":
                track, first, duration, sync = self._traf(data, start + 8, end)
                tracks[track] = (first, duration, sync)
        video = tracks.get(self._video_track)
        if video is not None:
            return Fragment(bytes(data), video[0], video[1], video[2])
        first, duration, _ = next(iter(tracks.values()), (0.0, 0.0, True))
        return Fragment(bytes(data), first, duration, True)

    def _traf(self, buf: bytearray, start: int, end: int) -> tuple[int, float, float, bool]:
        """Read one track's run, and put its decode time back on the rendition's timeline."""
        track = 0
        base = 0
        default_duration, default_flags = 0, 0
        total = 0
        first_flags: int | None = None
        for kind, s, _e in _boxes(buf, start, end):
            full = struct.unpack_from(">I", buf, s + 8)[0]
            version, flags = full >> 24, full & 0xFFFFFF
            if kind == b"tfhd":
                track = struct.unpack_from(">I", buf, s + 12)[0]
                default_duration, default_flags = self._defaults.get(track, (0, 0))
                off = s + 16
                if flags & 0x01:
                    off += 8
                if flags & 0x02:
                    off += 4
                if flags & 0x08:
                    default_duration = struct.unpack_from(">I", buf, off)[0]
                    off += 4
                if flags & 0x10:
                    off += 4
                if flags & 0x20:
                    default_flags = struct.unpack_from(">I", buf, off)[0]
            elif kind == b"tfdt":
                # The muxer starts every track at 0 (its moov is written before any sample);
                # shift each back by where it really started relative to the video.
                fmt = ">Q" if version == 1 else ">I"
                base = struct.unpack_from(fmt, buf, s + 12)[0] + self._shift.get(track, 0)
                struct.pack_into(fmt, buf, s + 12, base & (0xFFFFFFFFFFFFFFFF if version == 1 else 0xFFFFFFFF))
            elif kind == b"trun":
                count = struct.unpack_from(">I", buf, s + 12)[0]
                off = s + 16
                if flags & 0x01:
                    off += 4
                first_sample_flags = None
                if flags & 0x04:
                    first_sample_flags = struct.unpack_from(">I", buf, off)[0]
                    off += 4
                for i in range(count):
                    duration, sample_flags = default_duration, default_flags
                    if flags & 0x100:
                        duration = struct.unpack_from(">I", buf, off)[0]
                        off += 4
                    if flags & 0x200:
                        off += 4
                    if flags & 0x400:
                        sample_flags = struct.unpack_from(">I", buf, off)[0]
                        off += 4
                    if flags & 0x800:
                        off += 4
                    if i == 0 and first_sample_flags is not None:
                        sample_flags = first_sample_flags
                    if first_flags is None:
                        first_flags = sample_flags
                    total += duration
        scale = self._timescales.get(track, 1)
        sync = first_flags is not None and not first_flags & _NON_SYNC
        return track, base / scale, total / scale, sync


def _boxes(buf: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each box in buf[start:end]; stops at a box that is cut off."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
        elif size == 0:
            size = end - pos
        if size < 8 or pos + size > end:
            return  # cut off: the rest comes with the next write
        yield kind, pos, pos + size
        pos += size


def _walk(buf: bytes, start: int, end: int, into: tuple[bytes, ...]) -> Iterator[tuple[bytes, int, int]]:
    """Boxes of buf[start:end], descending into the container boxes named in `into`."""
    for kind, s, e in _boxes(buf, start, end):
        yield kind, s, e
        if kind in into:
            yield from _walk(buf, s + 8, e, into)
