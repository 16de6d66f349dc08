"""The newest group of pictures of a video source, kept so that a joining viewer starts at once.

A decoder can only start at a keyframe. Asking the publisher for one (PLI) costs a round trip to
the publisher plus an encode, and the keyframe throttle defers a request that comes within a
second of the previous one: viewers joining one after another used to wait up to a second for
their first picture. Instead, the source keeps its newest keyframe and the frames after it, while
they are few (`max_age`, `max_frames`, `max_bytes`), and a joining viewer is sent them at once:
its decoder catches up from the keyframe to the live frame and the next live frame follows.

The replayed frames are given timestamps one clock tick apart, ending at the newest one's: a
receiver then decodes and shows them as a quick catch-up instead of playing them back over the
second they first took (a browser's jitter buffer would otherwise keep the viewer that far behind).

Only when the kept group is too old or too large does a joining viewer wait for a fresh keyframe.
"""

from __future__ import annotations

from live.media.frames import Frame

GOP_MAX_AGE = 1.5  # seconds since the keyframe: longer than the keyframe throttle's window
GOP_MAX_FRAMES = 45  # at most half a subscriber's video queue (relay.VIDEO_QUEUE)
GOP_MAX_BYTES = 1 << 20


class GopCache:
    """The newest keyframe and the frames after it, for as long as they are worth replaying."""

    def __init__(self, max_age: float = GOP_MAX_AGE, max_frames: int = GOP_MAX_FRAMES,
                 max_bytes: int = GOP_MAX_BYTES) -> None:
        self.max_age = max_age
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.packets: list[Frame] = []
        self.keyframe_at = 0.0
        self.size = 0
        self.replays = 0

    def add(self, packet: Frame, keyframe: bool, now: float) -> None:
        if keyframe:
            self.packets = [packet]
            self.keyframe_at = now
            self.size = packet.size
            return
        if not self.packets:
            return  # no keyframe kept: nothing to build on until the next one
        if (now - self.keyframe_at > self.max_age or len(self.packets) >= self.max_frames
                or self.size + packet.size > self.max_bytes):
            self.clear()  # too much to replay: a joiner asks for a fresh keyframe instead
            return
        self.packets.append(packet)
        self.size += packet.size

    def clear(self) -> None:
        self.packets = []
        self.size = 0

    def fresh(self, now: float) -> bool:
        """Whether a joiner could start from the kept group now."""
        return bool(self.packets) and now - self.keyframe_at <= self.max_age

    def replay(self, now: float) -> list[Frame]:
        """The kept frames, retimed one tick apart up to the newest; [] when none is fit to replay."""
        if not self.packets or now - self.keyframe_at > self.max_age:
            return []
        self.replays += 1
        n = len(self.packets)
        last = self.packets[-1].pts
        return [packet.retimed(last - (n - 1 - i)) for i, packet in enumerate(self.packets)]
