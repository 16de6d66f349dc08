"""Recording: the host's forwarded packets muxed into a file with PyAV, never re-encoded.

VP8 + Opus go to WebM, H.264 + Opus to Matroska. The relay's tap copies each of the host's packets
once (its bytes, which the relay's packet may not outlive) into a bounded queue (`put_nowait`;
when full the packet is dropped and counted): muxing and file I/O run on the recorder's own
thread, and any failure there closes that recording and is logged, never felt by the live. The
recording starts at the first video keyframe (a file that starts on a delta frame would not
play); the picture size is learnt by decoding that one keyframe on this thread.

Timestamps: each stream's first packet of a publication is placed at its arrival time since the
recording began, later packets follow their own RTP clock; a host who republishes (new connection)
continues the same file after the gap. When the live ends the file is closed and a small JSON
sidecar records its size and duration (`GET /v1/live/{lid}/recording`).
"""

from __future__ import annotations

import dataclasses
import fractions
import json
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import av

from live.media.frames import Frame

log = logging.getLogger("live.media.recorder")

QUEUE = 2000  # packets (~20 s of audio and video) before the recorder drops
_END = object()


def _h264_parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS NAL units of an Annex B access unit, as Annex B (Matroska's extradata)."""
    out = []
    starts = []
    i = 0
    while (i := data.find(b"\x00\x00\x01", i)) >= 0:
        starts.append(i + 3)
        i += 3
    for k, start in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        nal = data[start:end].rstrip(b"\x00")
        if nal and nal[0] & 0x1F in (7, 8):
            out.append(b"\x00\x00\x00\x01" + nal)
    return b"".join(out)


@dataclasses.dataclass
class Item:
    kind: str
    codec: str
    clock: int
    pts: int
    data: bytes
    keyframe: bool
    arrived: float
    publication: int


class Recorder:
    """One live's recording: a thread that owns the container."""

    def __init__(self, directory: Path, lid: str) -> None:
        self.directory = directory
        self.lid = lid
        self.queue: queue.Queue[Any] = queue.Queue(QUEUE)
        self.dropped = 0
        self.path: Path | None = None
        self.failed: str | None = None
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"recorder-{lid}", daemon=True)
        self.thread.start()

    def feed(self, item: Item) -> None:
        if self.finished.is_set():
            return  # failed (or finished): nothing reads the queue any more
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def finish(self, timeout: float = 10.0) -> None:
        try:
            self.queue.put(_END, timeout=timeout)
        except queue.Full:
            pass
        self.finished.wait(timeout)

    # -- the recorder thread ---------------------------------------------------------------------
    def _run(self) -> None:
        container: Any = None
        streams: dict[str, Any] = {}
        origins: dict[tuple[str, int], tuple[int, int]] = {}  # (kind, publication) -> (pts0, out0)
        last: dict[str, int] = {}
        started: float | None = None
        video_codec: str | None = None
        try:
            while True:
                item = self.queue.get()
                if item is _END:
                    break
                if container is None:
                    if item.kind != "video" or not item.keyframe:
                        continue  # wait for a keyframe to start on
                    video_codec = item.codec
                    container, streams = self._open(item)
                    started = item.arrived
                if item.kind == "video" and item.codec != video_codec:
                    continue  # a republish with another codec cannot go in the same file
                stream = streams.get(item.kind)
                if stream is None:
                    continue
                key = (item.kind, item.publication)
                if key not in origins:
                    assert started is not None
                    out0 = int((item.arrived - started) * item.clock)
                    origins[key] = (item.pts, max(out0, last.get(item.kind, -1) + 1))
                pts0, out0 = origins[key]
                pts = item.pts - pts0 + out0
                if pts <= last.get(item.kind, -1):
                    continue  # never go back in time within a stream
                last[item.kind] = pts
                packet = av.Packet(item.data)
                packet.pts = packet.dts = pts
                packet.time_base = fractions.Fraction(1, item.clock)
                packet.stream = stream
                packet.is_keyframe = item.keyframe
                container.mux(packet)
        except Exception as exc:
            self.failed = str(exc)
            log.exception("recording %s failed; the live goes on without it", self.lid)
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    log.exception("closing the recording of %s failed", self.lid)
            self._write_meta()
            self.finished.set()

    def _open(self, first: Item) -> tuple[Any, dict[str, Any]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        decoder = av.CodecContext.create("libvpx" if first.codec == "VP8" else "h264", "r")
        frames = decoder.decode(av.Packet(first.data))
        if not frames:
            frames = decoder.decode(None)
        width, height = (frames[0].width, frames[0].height) if frames else (640, 360)
        fmt, ext = ("webm", "webm") if first.codec == "VP8" else ("matroska", "mkv")
        self.path = self.directory / f"{self.lid}.{ext}"
        container = av.open(str(self.path), "w", format=fmt)
        video = container.add_stream("vp8" if first.codec == "VP8" else "h264", rate=30)
        video.width, video.height = width, height
        video.time_base = fractions.Fraction(1, first.clock)
        if first.codec == "H264":
            video.codec_context.extradata = _h264_parameter_sets(first.data)
        audio = container.add_stream("opus", rate=48000)
        audio.time_base = fractions.Fraction(1, 48000)
        return container, {"video": video, "audio": audio}

    def _write_meta(self) -> None:
        if self.path is None or not self.path.exists():
            return
        meta: dict[str, Any] = {"path": str(self.path), "size": self.path.stat().st_size, "dropped": self.dropped}
        try:
            with av.open(str(self.path)) as probe:
                meta["duration"] = round((probe.duration or 0) / 1_000_000, 3)
                meta["streams"] = [s.type for s in probe.streams]
        except Exception as exc:  # noqa: BLE001 - a broken file still gets its meta, saying why
            meta["duration"] = None
            meta["error"] = str(exc)
        if self.failed:
            meta["error"] = self.failed
        (self.directory / f"{self.lid}.json").write_text(json.dumps(meta))


class Recorders:
    """The relay tap that feeds the host's packets of each recorded room to its recorder."""

    def __init__(self, directory: Path, hosts: dict[str, str]) -> None:
        self.directory = directory
        self.hosts = hosts
        self.active: dict[str, Recorder] = {}
        self.lids: dict[str, str] = {}
        self.lock = threading.Lock()

    def expect(self, room: str, lid: str) -> None:
        """The host is about to publish in `room`: record it."""
        with self.lock:
            self.lids[room] = lid

    def pause(self, room: str) -> None:
        """The host stopped publishing; the file stays open until the live ends."""

    def tap(self, source: Any, packet: Frame, keyframe: bool) -> None:
        room = source.publication.room
        if self.hosts.get(room) != source.publication.user_id:
            return
        recorder = self.active.get(room)
        if recorder is None:
            lid = self.lids.get(room)
            if lid is None or source.kind != "video" or not keyframe:
                return
            with self.lock:
                recorder = self.active.get(room) or Recorder(self.directory, lid)
                self.active[room] = recorder
        recorder.feed(
            Item(source.kind, source.codec_key, source.codec.clockRate, packet.pts, bytes(packet), keyframe,
                 time.monotonic(), id(source.publication))
        )

    def finish(self, room: str) -> None:
        with self.lock:
            recorder = self.active.pop(room, None)
            self.lids.pop(room, None)
        if recorder is not None:
            recorder.finish()

    def close_all(self) -> None:
        for room in list(self.active):
            self.finish(room)


def metadata(directory: Path, lid: str) -> dict[str, Any] | None:
    path = directory / f"{lid}.json"
    if not path.exists():
        return None
    try:
        meta: dict[str, Any] = json.loads(path.read_text())
        return meta
    except (OSError, ValueError):
        return None
