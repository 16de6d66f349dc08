"""One viewer's track of one source: a bounded queue of frames that the viewer's sender drains.

Queues are bounded whatever the viewer's speed: a slow viewer loses its oldest audio (old audio is
worth less than new, and Opus conceals gaps); for video a full queue is flushed and the viewer
waits for the next keyframe, asking for one (a dropped delta frame would corrupt every frame up to
the next keyframe anyway, so a clean resync costs less than showing garbage).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Protocol

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from live.media.frames import Frame, Packetizer
from live.media.relay.gop import GopCache

VIDEO_QUEUE = 90  # frames (3 s at 30 fps) before a viewer's video is flushed to the next keyframe
AUDIO_QUEUE = 100  # frames (2 s of 20 ms Opus) before the oldest audio is dropped


class Consumer(Protocol):
    """What a source fans out to: a viewer's `Output`, or a pipe to an edge (`live.media.pipe`)."""

    dropped: int

    def push(self, frame: Frame) -> None: ...

    def end(self) -> None: ...


class Played(Protocol):
    """The source an output plays (`live.media.relay.source.Source`)."""

    kind: str
    gop: GopCache
    packetizer: Packetizer
    clock: Callable[[], float]

    def prepare_replay(self) -> None: ...

    def request_keyframe(self) -> None: ...

    def add(self, consumer: Consumer) -> None: ...

    def remove(self, consumer: Consumer) -> None: ...


class Output(MediaStreamTrack):
    """One viewer's track: frames are queued only once the viewer's transport is up."""

    def __init__(self, source: Played) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.limit = VIDEO_QUEUE if source.kind == "video" else AUDIO_QUEUE
        self.queue: collections.deque[Frame] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.active = False
        self.need_keyframe = source.kind == "video"
        self.sent = 0
        self.dropped = 0
        self.ended = False

    def activate(self) -> None:
        """The viewer's transport is up: start from the kept group of pictures, or ask for a keyframe."""
        if self.active:
            return
        self.active = True
        if self.need_keyframe:
            self.source.prepare_replay()
            replay = self.source.gop.replay(self.source.clock())
            if replay:
                self.need_keyframe = False
                self.queue.extend(replay)  # GOP_MAX_FRAMES is under the queue limit
                self._wake()
            else:
                self.source.request_keyframe()

    def push(self, frame: Frame) -> None:
        if not self.active or self.ended:
            return
        if self.need_keyframe:
            if not frame.keyframe:
                return
            self.need_keyframe = False
        if len(self.queue) >= self.limit:
            if self.kind == "video":
                self.dropped += len(self.queue)
                self.queue.clear()
                if not frame.keyframe:
                    self.need_keyframe = True
                    self.source.request_keyframe()
                    return
            else:
                self.queue.popleft()
                self.dropped += 1
        self.queue.append(frame)
        self._wake()

    def end(self) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> Frame:  # type: ignore[override]
        while not self.queue:
            if self.ended or self.readyState != "live":
                raise MediaStreamError
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        self.sent += 1
        frame = self.queue.popleft()
        if frame.payloads is None:
            self.source.packetizer.prepare(frame)
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.remove(self)
        self.end()
