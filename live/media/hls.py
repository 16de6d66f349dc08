"""HLS egress: the host's media as fMP4 (CMAF) segments and LL-HLS parts, one writer per live.

Wired into the relay exactly like the recorder: `HlsWriters.tap` runs on the relay loop, copies
a reference to a bounded queue and returns; each live's `HlsWriter` thread does the rest.

    host packets --tap--> queue --HlsWriter thread--> [VP8 -> H.264, Opus -> AAC] --> Fmp4Muxer
        --> {var}/hls/{lid}/init{g}.mp4, p{msn}.{i}.m4s (parts), s{msn}.m4s (segments),
            index.m3u8 (live playlist, rewritten after every part), segments.log (the VOD's lines)

- H.264 is remuxed as it is; a segment can only start at a keyframe, so the tap asks the host
  for one (through the relay's throttled PLI) when the current segment is nearly a segment's
  worth long. A keyframe the host sends on its own (a viewer's request, its own cadence) that
  comes too early to end a segment does not move that time: segments stay regular.
  VP8 is transcoded once here, with a keyframe forced every segment.
- Parts (`LIVE_HLS_PART_SECONDS`) are the muxer's fragments; a segment is the run of parts
  from one keyframe to the next once it is at least 3/4 of `LIVE_HLS_SEGMENT_SECONDS` long, and
  its file is its parts put together. Every file is written under a temporary name and renamed.
- Timestamps: as in the recorder, each stream's first packet of a publication is placed at its
  arrival time since the live's HLS began, later ones follow their RTP clock; each segment's
  EXT-X-PROGRAM-DATE-TIME is the wall-clock time its first frame reached the relay.
- A republish, or an H.264 host whose SPS/PPS change, starts a new generation: a new init
  segment and EXT-X-DISCONTINUITY.
- When the live ends the last segment is closed and `index.m3u8` becomes the VOD playlist
  (`#EXT-X-ENDLIST`); the part files go. App nodes serve it while the recording exists.
Any failure on the thread ends that live's HLS (logged); the live and its recording go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from live.media.frames import Frame
from live.media.hls_mux import AudioConfig, Fmp4Muxer, Fragment, VideoConfig, h264_parameter_sets
from live.media.hls_playlist import Part, Segment, init_uri, render_live, render_vod, segment_lines, target_duration
from live.media.hls_transcode import AudioTranscoder, VideoTranscoder

log = logging.getLogger("live.media.hls")

QUEUE = 2000  # packets (~20 s of audio and video) before the writer drops
WINDOW = 8  # finished segments in the live playlist
PART_FILES = 6  # finished segments whose part files are kept (a slow client may still ask)
KEYFRAME_LEAD = 0.1  # seconds before a segment is due that the host is asked for a keyframe (a PLI + encode: ~70 ms)
_END = object()


@dataclasses.dataclass(slots=True)
class Item:
    kind: str
    codec: str
    clock: int
    pts: int
    data: bytes
    keyframe: bool
    arrived: float  # time.monotonic()
    publication: int
    kinds: tuple[str, ...]


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _Generation:
    """One muxer's life: one publication with one codec configuration."""

    def __init__(self, number: int, publication: int, origin: int, muxer: Fmp4Muxer,
                 audio: AudioTranscoder | None, video: VideoTranscoder | None) -> None:
        self.number = number
        self.publication = publication
        self.origin = origin  # first video pts (1/90000) on the live's timeline: the muxer's 0
        self.muxer = muxer
        self.audio = audio
        self.video = video
        self.last_video = origin
        self.frame = 3000  # the last inter-frame interval: the duration given to the next packet
        self.forced_at = origin
        self.keyframes: set[int] = {origin}  # pts of keyframes handed to the muxer


class HlsWriter:
    """One live's HLS: a thread that owns the muxer and the files."""

    def __init__(self, directory: Path, lid: str, segment_seconds: float, part_seconds: float) -> None:
        self.directory = directory / lid
        self.lid = lid
        self.segment_seconds = segment_seconds
        self.part_seconds = part_seconds
        self.queue: queue.Queue[Any] = queue.Queue(QUEUE)
        self.dropped = 0
        self.resync = False  # a video packet was dropped: skip video until the next keyframe
        self.failed: str | None = None
        self.finished = threading.Event()
        self.segments: list[Segment] = []  # the live window, the segment being built last
        self.msn = 0
        self.discontinuity_sequence = 0
        self.durations: list[float] = []
        self.started: float | None = None  # monotonic time of media time 0
        self.wall: float = 0.0  # time.time() at media time 0
        self.origins: dict[tuple[str, int], tuple[int, int]] = {}
        self.generation: _Generation | None = None
        self.generations = 0
        self.log_lines_generation: int | None = None
        self._video_config: VideoConfig | None = None
        self._data: list[bytes] = []  # the parts of the segment being built
        self.thread = threading.Thread(target=self._run, name=f"hls-{lid}", daemon=True)
        self.thread.start()

    # -- the relay loop's side -------------------------------------------------------------------
    def feed(self, item: Item) -> None:
        if self.finished.is_set():
            return
        if self.resync and item.kind == "video":
            if not item.keyframe:
                return
            self.resync = False
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            if item.kind == "video":
                self.resync = True  # a hole in the video: the decoder needs a fresh start

    def finish(self, timeout: float = 10.0) -> None:
        try:
            self.queue.put(_END, timeout=timeout)
        except queue.Full:
            pass
        self.finished.wait(timeout)

    # -- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                item = self.queue.get()
                if item is _END:
                    break
                self._handle(item)
            self._end_generation()
            self._end_segment()
        except Exception as exc:
            self.failed = str(exc)
            log.exception("HLS of %s failed; the live goes on without it", self.lid)
        finally:
            with contextlib.suppress(Exception):
                self._write_vod()
            self.finished.set()

    def _timeline(self, item: Item) -> int:
        """The item's pts on the live's timeline (the item's clock)."""
        assert self.started is not None
        key = (item.kind, item.publication)
        if key not in self.origins:
            self.origins[key] = (item.pts, int((item.arrived - self.started) * item.clock))
        pts0, out0 = self.origins[key]
        return item.pts - pts0 + out0

    def _handle(self, item: Item) -> None:
        if self.started is None:
            if item.kind != "video" or not item.keyframe:
                return
            self.started = item.arrived
            self.wall = time.time() - (time.monotonic() - item.arrived)
        gen = self.generation
        if item.kind == "video":
            new_config = (gen is not None and gen.video is None and item.keyframe
                          and h264_parameter_sets(item.data) not in (b"", self._parameter_sets))
            if gen is None or gen.publication != item.publication or new_config:
                if not item.keyframe:
                    return  # a new generation starts at a keyframe
                self._end_generation()
                self._start_generation(item)  # (it muxes the keyframe it starts with)
                return
            self._video(gen, item)
        elif gen is not None and gen.publication == item.publication and gen.audio is not None:
            pts = self._timeline(item)
            for data, out in gen.audio.transcode(item.data, pts):
                if out * 90000 // 48000 >= gen.origin:  # nothing before the picture starts
                    self._fragments(gen, gen.muxer.mux("audio", data, out, True, 1024))

    def _video(self, gen: _Generation, item: Item) -> None:
        pts = self._timeline(item)
        if pts <= gen.last_video:
            return
        if pts > gen.last_video:
            gen.frame = min(max(pts - gen.last_video, 900), 9000)
        gen.last_video = pts
        if gen.video is None:
            if item.keyframe:
                gen.keyframes.add(pts)
            self._fragments(gen, gen.muxer.mux("video", item.data, pts, item.keyframe, gen.frame))
            return
        force = pts - gen.forced_at >= self.segment_seconds * 90000
        if force:
            gen.forced_at = pts
        for data, out, keyframe in gen.video.transcode(item.data, pts, force):
            if keyframe:
                gen.keyframes.add(out)
            self._fragments(gen, gen.muxer.mux("video", data, out, keyframe, gen.frame))

    @property
    def _parameter_sets(self) -> bytes:
        return self._video_config.parameter_sets if self._video_config is not None else b""

    def _start_generation(self, item: Item) -> None:
        pts = self._timeline(item)
        audio = AudioTranscoder() if "audio" in item.kinds else None
        video: VideoTranscoder | None = None
        if item.codec == "VP8":
            video = VideoTranscoder()
            first = video.transcode(item.data, pts, True)
            if not first or not first[0][2]:
                return
            config = VideoConfig(video.size[0], video.size[1], h264_parameter_sets(first[0][0]))  # type: ignore[index]
        else:
            first = [(item.data, pts, True)]
            width, height = _h264_size(item.data)
            config = VideoConfig(width, height, h264_parameter_sets(item.data))
        muxer = Fmp4Muxer(config, AudioConfig(audio.extradata) if audio else None, self.part_seconds)
        self._video_config = config
        gen = _Generation(self.generations, item.publication, pts, muxer, audio, video)
        self.generations += 1
        self.generation = gen
        gen.last_video = pts
        self.directory.mkdir(parents=True, exist_ok=True)
        for data, out, keyframe in first:
            self._fragments(gen, muxer.mux("video", data, out, keyframe, gen.frame))
        write_atomic(self.directory / init_uri(gen.number), muxer.init)

    def _end_generation(self) -> None:
        gen, self.generation = self.generation, None
        if gen is not None:
            self._fragments(gen, gen.muxer.close())
            self._end_segment()

    # -- parts and segments ----------------------------------------------------------------------
    def _fragments(self, gen: _Generation, fragments: list[Fragment]) -> None:
        for fragment in fragments:
            self._fragment(gen, fragment)

    def _fragment(self, gen: _Generation, fragment: Fragment) -> None:
        start = gen.origin / 90000 + fragment.start  # seconds on the live's timeline
        current = self.segments[-1] if self.segments and not self.segments[-1].complete else None
        if current is not None and (current.generation != gen.number or (
                fragment.independent and current.duration >= 0.75 * self.segment_seconds)):
            self._end_segment()
            current = None
        if current is None:
            current = Segment(self.msn, gen.number, self.wall + start)
            self.msn += 1
            self.segments.append(current)
            self._data = []
        part = Part(current.msn, len(current.parts), fragment.duration, fragment.independent)
        current.parts.append(part)
        current.duration += fragment.duration
        self._data.append(fragment.data)
        if self.part_seconds > 0:
            write_atomic(self.directory / part.uri, fragment.data)
        end = round((start + fragment.duration) * 90000)
        if any(abs(end - k) < 45 for k in gen.keyframes) and current.duration >= 0.75 * self.segment_seconds:
            # the next fragment starts at a keyframe: this segment is done now, not a part later
            gen.keyframes = {k for k in gen.keyframes if k > end - 45}
            self._end_segment()
        else:
            self._write_playlist()

    def _end_segment(self) -> None:
        current = self.segments[-1] if self.segments and not self.segments[-1].complete else None
        if current is None:
            return
        if current.duration <= 0:
            self.segments.pop()
            self.msn -= 1
            return
        current.complete = True
        write_atomic(self.directory / current.uri, b"".join(self._data))
        self._data = []
        self.durations.append(current.duration)
        with open(self.directory / "segments.log", "a", encoding="ascii") as f:
            f.write(segment_lines(current, self.log_lines_generation))
        self.log_lines_generation = current.generation
        finished = [s for s in self.segments if s.complete]
        while len(finished) > WINDOW:
            gone = self.segments.pop(0)
            finished.pop(0)
            if self.segments and self.segments[0].generation != gone.generation:
                self.discontinuity_sequence += 1
        old = current.msn - PART_FILES
        if old >= 0 and self.part_seconds > 0:
            for name in self.directory.glob(f"p{old}.*.m4s"):
                name.unlink(missing_ok=True)
        self._write_playlist()

    def _write_playlist(self) -> None:
        text = render_live(
            self.segments,
            target=target_duration(self.durations, self.segment_seconds),
            part_target=self.part_seconds,
            discontinuity_sequence=self.discontinuity_sequence,
        )
        write_atomic(self.directory / "index.m3u8", text.encode("ascii"))

    def _write_vod(self) -> None:
        path = self.directory / "segments.log"
        if not path.exists():
            return
        write_atomic(self.directory / "index.m3u8", render_vod(path.read_text("ascii")).encode("ascii"))
        for name in self.directory.glob("p*.m4s"):
            name.unlink(missing_ok=True)


def _h264_size(data: bytes) -> tuple[int, int]:
    """The picture size of an H.264 keyframe, by decoding it (once per generation)."""
    decoder = av.CodecContext.create("h264", "r")
    frames = decoder.decode(av.Packet(data)) or decoder.decode(None)
    return (frames[0].width, frames[0].height) if frames else (640, 360)


class HlsWriters:
    """The relay tap that feeds the host's packets of each live to its HLS writer."""

    def __init__(self, directory: Path, hosts: dict[str, str], segment_seconds: float = 2.0,
                 part_seconds: float = 0.5, recordings: Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.clock = clock
        self.hosts = hosts
        self.segment_seconds = segment_seconds
        self.part_seconds = part_seconds
        self.recordings = recordings  # an ended live keeps its VOD only while this holds its recording
        self.active: dict[str, HlsWriter] = {}
        self.lids: dict[str, str] = {}
        self.segment_began: dict[str, float] = {}  # when the keyframe that began the current segment came
        self.asked: dict[str, float] = {}
        self.lock = threading.Lock()

    def expect(self, room: str, lid: str) -> None:
        """The host is about to publish in `room`: make its HLS."""
        with self.lock:
            self.lids[room] = lid

    def pause(self, room: str) -> None:
        """The host stopped publishing; the playlist stays until the live ends."""

    def tap(self, source: Any, packet: Frame, keyframe: bool) -> None:
        room = source.publication.room
        if self.hosts.get(room) != source.publication.user_id:
            return
        now = self.clock()
        writer = self.active.get(room)
        if source.kind == "video":
            began = self.segment_began.get(room)
            if keyframe:
                # the writer's rule (HlsWriter._fragment): a keyframe ends a segment once it is
                # 3/4 of a segment long (by its clock; the tap's is arrival, close to it)
                if began is None or now - began >= 0.75 * self.segment_seconds:
                    self.segment_began[room] = now
            elif (source.codec_key == "H264" and writer is not None) or (writer is None and room in self.lids):
                # a segment can only start at a keyframe: ask for one when one is due
                due = writer is None or began is None or now - began >= self.segment_seconds - KEYFRAME_LEAD
                if due and now - self.asked.get(room, -1e9) >= 0.5:
                    self.asked[room] = now
                    source.request_keyframe()
        if writer is None:
            lid = self.lids.get(room)
            if lid is None or source.kind != "video" or not keyframe:
                return
            with self.lock:
                writer = self.active.get(room) or HlsWriter(self.directory, lid, self.segment_seconds,
                                                            self.part_seconds)
                self.active[room] = writer
        writer.feed(Item(source.kind, source.codec_key, source.codec.clockRate, packet.pts, bytes(packet),
                         keyframe, now, id(source.publication), tuple(sorted(source.publication.sources))))

    def finish(self, room: str) -> None:
        """The live ended: close its last segment and leave the VOD (or nothing, unrecorded)."""
        with self.lock:
            writer = self.active.pop(room, None)
            lid = self.lids.pop(room, None)
        self.segment_began.pop(room, None)
        self.asked.pop(room, None)
        if writer is not None:
            writer.finish()
            lid = writer.lid
        if lid is not None and self.recordings is None:
            shutil.rmtree(self.directory / lid, ignore_errors=True)

    def close_all(self) -> None:
        for room in list(self.active):
            with self.lock:
                writer = self.active.pop(room, None)
            if writer is not None:
                writer.finish()


def hls_writers(settings: Any, hosts: dict[str, str]) -> HlsWriters | None:
    """The HLS tap a relay's process runs (None with `LIVE_HLS=0`)."""
    if not settings.hls:
        return None
    var = Path(settings.var_dir)
    return HlsWriters(var / "hls", hosts, settings.hls_segment_seconds, settings.hls_part_seconds,
                      var / "recordings" if settings.recording else None)
