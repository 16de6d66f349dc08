"""A media process: one relay, its taps (recording, HLS, thumbnails), its pipe, and the operations app
nodes ask of it.

Media never runs under an app node's interpreter: an app node either starts media processes of its
own and talks to them over a socket pair (`live.media.local`, the default) or reaches
`live media-worker` processes on any machine through Redis (`live.media.redis_workers`,
LIVE_MEDIA_WORKERS=1). Either way the process is this `MediaWorker`; only its `WorkerLink` (how
requests come in, and how its state and events go out) differs.

The state a worker reports every second is what placement reads: its load, its pipe's address,
and for each feed it carries whether it is the feed's origin and how many viewers it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from live.config import Settings
from live.media import loop as media_loop
from live.media.hls import hls_writers
from live.media.pipe import PipeServer, Upstream
from live.media.recorder import Recorders
from live.media.relay import MediaError, Relay
from live.media.thumbnails import Thumbnails

log = logging.getLogger("live.media.worker")

OPS = ("publish", "subscribe", "unpublish", "unsubscribe", "end_room", "stats")
STATE_SECONDS = 1.0


def feed_key(room: str, publisher: str) -> str:
    """How a feed is named in a worker's state (room ids and user ids never hold a newline)."""
    return f"{room}\n{publisher}"


class WorkerLink(Protocol):
    """How a media process hears app nodes and tells them what happens."""

    async def serve(self, worker: MediaWorker) -> None:
        """Take requests (`worker.handle`) and report `worker.state()` until the worker stops."""

    def emit(self, event: dict[str, Any]) -> None:
        """media.published / media.unpublished / thumbnail, towards the app nodes."""

    async def close(self) -> None: ...


class MediaWorker:
    """The relay of one media process, and what app nodes may ask of it."""

    def __init__(self, settings: Settings, worker_id: str, link: WorkerLink) -> None:
        self.settings = settings
        self.id = worker_id
        self.link = link
        self.hosts: dict[str, str] = {}  # room -> host id (the recorder's and thumbnails' taps)
        self.stopping = asyncio.Event()
        self.started = time.time()
        self.relay: Relay | None = None
        self.pipe: PipeServer | None = None
        self.upstream = Upstream(settings.secret or "")
        var = Path(settings.var_dir)
        self.recorders = Recorders(var / "recordings", self.hosts) if settings.recording else None
        self.hls = hls_writers(settings, self.hosts)
        self.thumbnails = (
            Thumbnails(var / "thumbnails", self.hosts, settings.thumbnail_seconds, self._thumbnail)
            if settings.thumbnail_seconds > 0 else None
        )
        self.loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.relay = Relay(self.settings.ice_servers, self.settings.media_timeout_seconds,
                           self._published, self._unpublished, min_bitrate=self.settings.media_min_bitrate,
                           attach=self.upstream.attach, on_viewer_left=self._viewer_left)
        for tap in (self.recorders, self.thumbnails, self.hls):
            if tap is not None:
                self.relay.taps.append(tap.tap)
        self.pipe = PipeServer(self.relay, self.settings.secret or "", self.settings.media_pipe_host,
                               advertise=self.settings.media_pipe_advertise,
                               buffer_limit=self.settings.media_pipe_buffer_bytes)
        await self.pipe.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(sig, self.stopping.set)
        log.info("media worker %s ready (pipe %s)", self.id, self.pipe.address)
        serving = asyncio.ensure_future(self.link.serve(self))
        stopped = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (serving, stopped):
                task.cancel()
            await self.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.upstream.close()
        if self.pipe is not None:
            await self.pipe.close()
        if self.relay is not None:
            await self.relay.close()
        if self.recorders is not None:
            await asyncio.to_thread(self.recorders.close_all)
        if self.hls is not None:
            await asyncio.to_thread(self.hls.close_all)
        if self.thumbnails is not None:
            await asyncio.to_thread(self.thumbnails.close)
        await self.link.close()

    # -- what app nodes ask ------------------------------------------------------------------------
    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        """Run one operation; MediaError for what the relay refuses."""
        relay = self.relay
        if relay is None or op not in OPS:
            raise MediaError("invalid", f"unknown operation {op!r}")
        if op == "stats":
            return {"id": self.id, **relay.stats()}
        room = str(args["room"])
        if op == "publish":
            if args.get("host_id"):
                self.hosts[room] = args["host_id"]
            if args.get("lid") and args["user_id"] == args.get("host_id"):
                if self.recorders is not None:
                    self.recorders.expect(room, args["lid"])
                if self.hls is not None:
                    self.hls.expect(room, args["lid"])
            return await relay.publish(room, args["user_id"], args["sdp"])
        if op == "subscribe":
            return await relay.subscribe(room, args["user_id"], args["publisher_id"], args["sdp"],
                                         origin=args.get("origin"))
        if op == "unpublish":
            return await relay.unpublish(room, args["user_id"])
        if op == "unsubscribe":
            return await relay.unsubscribe(room, args["user_id"], args.get("publisher_id"))
        await relay.end_room(room, args.get("reason", "ended"))
        if self.recorders is not None:
            await asyncio.to_thread(self.recorders.finish, room)
        if self.hls is not None:
            await asyncio.to_thread(self.hls.finish, room)
        if self.thumbnails is not None:
            self.thumbnails.forget(room)
        self.hosts.pop(room, None)
        return None

    def state(self) -> dict[str, Any]:
        """What placement reads (sent every second): load, pipe address, the feeds carried."""
        relay = self.relay
        feeds: dict[str, list[Any]] = {}
        viewers = 0
        if relay is not None:
            for feed in relay.feeds.values():
                n = len(feed.subscriptions)
                viewers += n
                feeds[feed_key(feed.room, feed.user_id)] = [feed.local, n]
        publications = sum(1 for origin, _ in feeds.values() if origin)
        return {
            "id": self.id,
            "pid": os.getpid(),
            "pipe": self.pipe.address if self.pipe is not None else "",
            "load": publications + viewers,
            "viewers": viewers,
            "feeds": feeds,
            "counters": relay.counters() if relay is not None else {},
            "at": time.time(),
        }

    # -- what the relay tells ----------------------------------------------------------------------
    def _published(self, room: str, user_id: str, kinds: list[str]) -> None:
        self.link.emit({"type": "media.published", "room": room, "user_id": user_id, "kinds": kinds})

    def _unpublished(self, room: str, user_id: str, kinds: list[str], reason: str) -> None:
        self.link.emit({"type": "media.unpublished", "room": room, "user_id": user_id, "kinds": kinds,
                        "reason": reason})

    def _viewer_left(self, room: str, user_id: str, publisher: str) -> None:
        self.link.emit({"type": "viewer.left", "room": room, "user_id": user_id, "publisher": publisher,
                        "worker": self.id})

    def _thumbnail(self, room: str, path: Path) -> None:
        """Thumbnail thread -> this loop -> the app nodes (who note it on the live's row)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            event = {"type": "thumbnail", "room": room, "path": str(path)}
            loop.call_soon_threadsafe(self.link.emit, event)


def run_worker(settings: Settings, worker_id: str, make_link: Callable[[], WorkerLink]) -> int:
    """Run a media process until it is told to stop (SIGTERM, SIGINT, or its link closing)."""
    async def main() -> None:
        await MediaWorker(settings, worker_id, make_link()).run()

    media_loop.run(main())
    return 0
