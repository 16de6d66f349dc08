"""One kind (audio or video) of one feed: takes its frames and fans them out.

A source is fed by the publisher's receiver (a local publication, at the origin) or by the pipe
from the origin (a relayed feed, at an edge). Either way it keeps the newest group of pictures for
joiners (`GopCache`), prepares each frame's RTP payloads once for all its viewers, and hands every
frame to its consumers: viewers' outputs, pipes to edges, and (at the origin only) the taps that
record, thumbnail and segment the live.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from live.media.frames import Frame, Packetizer
from live.media.relay.gop import GopCache
from live.media.relay.output import Consumer
from live.media.relay.throttle import KeyframeThrottle

log = logging.getLogger("live.media")

# (source, frame, keyframe), on the relay's loop: must return at once (hand work to a thread). The
# frame supports bytes(frame), .pts (in the codec's clock, source.codec.clockRate) and .keyframe.
Tap = Callable[["Source", Frame, bool], None]


def codec_key(codec: RTCRtpCodecParameters) -> str:
    """'VP8' / 'H264' for video, 'opus' for audio: how `is_keyframe` and the packetizer name codecs."""
    name = codec.mimeType.split("/", 1)[1]
    return name.upper() if codec.mimeType.lower().startswith("video/") else name.lower()


class Fed(Protocol):
    """The feed a source belongs to (`live.media.relay.feeds.Feed`): taps read `.room` and
    `.user_id` from it."""

    room: str
    user_id: str

    @property
    def taps(self) -> list[Tap]: ...

    def source_ended(self, source: Source) -> None: ...


class Source:
    """One kind of one feed: frames in, to every consumer; keyframe requests out (throttled)."""

    def __init__(self, feed: Fed, kind: str, codec: RTCRtpCodecParameters,
                 request_upstream: Callable[[], Awaitable[bool]], *, keyframe_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.feed = feed
        self.kind = kind
        self.codec = codec
        self.codec_name = codec.mimeType.split("/", 1)[1]
        self.codec_key = codec_key(codec)
        self.clock = clock
        self.consumers: set[Consumer] = set()
        self.throttle = KeyframeThrottle(request_upstream, keyframe_interval, clock)
        self.gop = GopCache()  # what a joining viewer starts with (video)
        self.packetizer = Packetizer(self.codec_key)
        self.frames = 0
        self.keyframes = 0
        self.dropped = 0  # by consumers that left
        self.sent_by_gone = 0  # frames sent to consumers that left
        self.last_frame = clock()
        self.first_frame_at: float | None = None
        self.ended = False
        self.receiver: object | None = None  # the publisher's receiver, at the origin

    @property
    def publication(self) -> Fed:
        """The feed this source belongs to (taps read `.room` and `.user_id` from it)."""
        return self.feed

    def add(self, consumer: Consumer) -> None:
        self.consumers.add(consumer)

    def remove(self, consumer: Consumer) -> None:
        if consumer in self.consumers:
            self.consumers.discard(consumer)
            self.dropped += consumer.dropped
            self.sent_by_gone += getattr(consumer, "sent", 0)

    def request_keyframe(self) -> None:
        if self.kind == "video" and not self.ended:
            self.throttle.request()

    def prepare_replay(self) -> None:
        """Make the kept group's payloads now, in order, before any newer frame is prepared (VP8's
        picture ids must rise frame after frame for a joiner that starts from the group)."""
        for frame in self.gop.packets:
            self.packetizer.prepare(frame)

    def on_frame(self, frame: Frame | None) -> None:
        if frame is None:
            self.ended = True
            self.feed.source_ended(self)
            return
        self.frames += 1
        now = self.last_frame = self.clock()
        if self.first_frame_at is None:
            self.first_frame_at = now
        keyframe = frame.keyframe
        if self.kind == "video":
            if keyframe:
                self.keyframes += 1
            self.gop.add(frame, keyframe, now)
        consumers = self.consumers
        if consumers:
            self.packetizer.prepare(frame)
            for consumer in tuple(consumers):
                consumer.push(frame)
        taps = self.feed.taps
        if taps:
            for tap in tuple(taps):
                try:
                    tap(self, frame, keyframe)
                except Exception:
                    log.exception("a media tap failed; dropping it")
                    taps.remove(tap)

    def close(self) -> None:
        self.ended = True
        self.throttle.cancel()
        self.gop.clear()
        for consumer in tuple(self.consumers):
            consumer.end()
        self.consumers.clear()

    def stats(self) -> dict[str, object]:
        return {
            "codec": self.codec.mimeType,
            "frames": self.frames,
            "keyframes": self.keyframes,
            "pli_sent": self.throttle.sent,
            "pli_requested": self.throttle.requested,
            "gop_replays": self.gop.replays,
            "first_frame_at": self.first_frame_at,
            "consumers": len(self.consumers),
            "dropped": self.dropped + sum(c.dropped for c in self.consumers),
        }
