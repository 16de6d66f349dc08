"""Thumbnails: every few seconds one keyframe of the host's video is decoded to a JPEG.

Off the relay path: the tap (on the relay loop) only keeps a reference to the newest keyframe it
sees once the interval has passed, in a one-slot mailbox; a single thread decodes it (its own
decoder, created per picture, so a corrupt frame cannot poison the next) and writes
`{var}/thumbnails/{lid}.jpg` atomically. When no keyframe came for an interval the tap asks the
publisher for one through the relay's throttled PLI, so the picture stays fresh even from encoders
that send keyframes rarely.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from live.media.frames import Frame
from live.room_id import RoomId

log = logging.getLogger("live.media.thumbnails")

WIDTH = 320  # thumbnails are at most this wide (height follows the aspect ratio)


def jpeg_of_keyframe(codec: str, data: bytes) -> bytes:
    """Decode one keyframe (codec 'VP8' or 'H264') and encode it as a JPEG."""
    decoder = av.CodecContext.create("libvpx" if codec == "VP8" else "h264", "r")
    frames = decoder.decode(av.Packet(data)) or decoder.decode(None)
    if not frames:
        raise ValueError("the keyframe did not decode")
    frame = frames[0]
    width = min(WIDTH, frame.width) // 2 * 2
    height = max(2, round(frame.height * width / frame.width) // 2 * 2)
    frame = frame.reformat(width=width, height=height, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = frame.time_base or __import__("fractions").Fraction(1, 30)
    packets = encoder.encode(frame) + encoder.encode(None)
    return b"".join(bytes(p) for p in packets)


class Thumbnails:
    def __init__(
        self,
        directory: Path,
        hosts: dict[str, str],
        interval: float,
        written: Callable[[str, Path], None],
    ) -> None:
        self.directory = directory
        self.hosts = hosts
        self.interval = interval
        self.written = written
        self.last: dict[str, float] = {}  # room -> when its last picture was taken
        self.asked: dict[str, float] = {}
        self.mailbox: dict[str, tuple[str, bytes]] = {}
        self.cv = threading.Condition()
        self.closed = False
        self.made = 0
        self.thread = threading.Thread(target=self._run, name="thumbnails", daemon=True)
        self.thread.start()

    def tap(self, source: Any, packet: Frame, keyframe: bool) -> None:
        if source.kind != "video":
            return
        room = source.publication.room
        if self.hosts.get(room) != source.publication.user_id:
            return
        now = time.monotonic()
        due = now - self.last.get(room, -1e9) >= self.interval
        if not due:
            return
        if keyframe:
            self.last[room] = now
            with self.cv:
                self.mailbox[room] = (source.codec_key, bytes(packet))
                self.cv.notify()
        elif now - self.asked.get(room, -1e9) >= self.interval:
            self.asked[room] = now
            source.request_keyframe()

    def forget(self, room: str) -> None:
        self.last.pop(room, None)
        self.asked.pop(room, None)
        with self.cv:
            self.mailbox.pop(room, None)

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify()
        self.thread.join(5)

    def _run(self) -> None:
        while True:
            with self.cv:
                while not self.mailbox and not self.closed:
                    self.cv.wait()
                if self.closed:
                    return
                room, (codec, data) = self.mailbox.popitem()
            try:
                jpeg = jpeg_of_keyframe(codec, data)
                self.directory.mkdir(parents=True, exist_ok=True)
                lid = RoomId.parse(room).ident
                path = self.directory / f"{lid}.jpg"
                tmp = path.with_suffix(".jpg.tmp")
                tmp.write_bytes(jpeg)
                os.replace(tmp, path)
                self.made += 1
                self.written(room, path)
            except Exception:
                log.warning("thumbnail of %s failed", room, exc_info=True)


async def store_thumbnail(db: Any, room: str, path: Path) -> None:
    """Note a fresh thumbnail file on the live's row (the live tab's `thumbnail_url`)."""
    from live.lives.models import Live
    from live.storage.base import utcnow

    try:
        async with db.session() as session:
            live = await session.get(Live, RoomId.parse(room).ident)
            if live is not None:
                live.thumbnail_path = str(path)
                live.thumbnail_at = utcnow()
    except Exception:
        log.warning("saving the thumbnail of %s failed", room, exc_info=True)
