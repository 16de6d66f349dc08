"""The pass-through SFU: a publisher's encoded frames reach every viewer, never decoded.

One `Relay` per media process, on that process's event loop. A feed is either published here (a
`Publication`: this relay is the origin of its tree) or received from the origin over a pipe (a
`RelayedFeed`: this relay is an edge). Viewers subscribe to either the same way:

    publisher --RTP--> PassThroughReceiver --Frame--> Source --+--> Output (viewer 1) --> ForwardingSender
                                                               +--> Output (viewer n) --> ...
                                                               +--> pipe to an edge (live.media.pipe)
                                                               +--> taps (recorder, thumbnails, HLS: their own threads)

What forwarding has to do that an encoder would otherwise do for us (see docs/media.md):
- keyframes: a joiner starts from the source's newest group of pictures (`GopCache`), else waits
  for a keyframe that is asked of the publisher at most once a second (`KeyframeThrottle`);
  viewers' PLI/FIR go the same way, and an edge's go back to the origin's throttle;
- bounded per-viewer queues (`Output`), and every received frame is consumed (the sink replaces
  the decoder), so nothing piles up whatever the viewers do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from live.media.passthrough import PassThroughReceiver, check_aiortc, restrict_codecs
from live.media.relay.feeds import Feed, Publication, RelayedFeed, Subscription
from live.media.relay.output import Output
from live.media.relay.source import Source, Tap
from live.media.sender import ForwardingSender, check_sender

log = logging.getLogger("live.media")

SUPPORTED = {"audio": ("opus",), "video": ("vp8", "h264")}
RELAYED_LINGER = 10.0  # seconds an edge keeps a feed nobody watches before it lets go of the pipe


class MediaError(Exception):
    """A negotiation the relay refuses; `kind` is "not_found", "invalid" or "conflict"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# (room, user_id, kinds) ; (room, user_id, kinds, reason)
PublishedHook = Callable[[str, str, list[str]], None]
UnpublishedHook = Callable[[str, str, list[str], str], None]
# (room, viewer, publisher): a viewer's subscription went
ViewerLeftHook = Callable[[str, str, str], None]
# (relay, room, publisher, origin address) -> the feed, received over a pipe (an edge's side)
Attach = Callable[["Relay", str, str, str], Awaitable[RelayedFeed]]


class Totals(TypedDict):
    """Frames in and out and dropped, by kind ("audio", "video"), and keyframe requests."""

    frames_in: dict[str, int]
    frames_out: dict[str, int]
    dropped: dict[str, int]
    keyframe_requests: int


class Relay:
    """Feeds and their subscriptions. Call only on the relay's own loop."""

    def __init__(
        self,
        ice_servers: list[dict[str, Any]] | None = None,
        media_timeout: float = 10.0,
        on_published: PublishedHook | None = None,
        on_unpublished: UnpublishedHook | None = None,
        min_bitrate: int = 0,
        attach: Attach | None = None,
        on_viewer_left: ViewerLeftHook | None = None,
    ) -> None:
        check_aiortc()
        check_sender()
        self.ice_servers = ice_servers or []
        self.media_timeout = media_timeout
        self.min_bitrate = min_bitrate  # REMB floor to publishers (LIVE_MEDIA_MIN_BITRATE)
        self.on_published = on_published
        self.on_unpublished = on_unpublished
        self.attach = attach
        self.on_viewer_left = on_viewer_left
        self.feeds: dict[tuple[str, str], Feed] = {}
        self.taps: list[Tap] = []
        self._attaching: dict[tuple[str, str], asyncio.Future[Feed]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        # what feeds and viewers that are gone counted, so totals never go down
        self.gone: Totals = {"frames_in": {"audio": 0, "video": 0}, "frames_out": {"audio": 0, "video": 0},
                     "dropped": {"audio": 0, "video": 0}, "keyframe_requests": 0}

    @property
    def publications(self) -> dict[tuple[str, str], Publication]:
        return {k: f for k, f in self.feeds.items() if isinstance(f, Publication)}

    def _config(self) -> RTCConfiguration:
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in self.ice_servers
        ]
        # An empty list, not None: aiortc's default would ask a public STUN server on every call.
        return RTCConfiguration(iceServers=servers)

    # -- publishing ------------------------------------------------------------------------------
    async def publish(self, room: str, user_id: str, sdp: str) -> str:
        """Accept a publisher's offer (sendonly audio and/or video); return the answer SDP."""
        self._ensure_watchdog()
        old = self.feeds.get((room, user_id))
        if old is not None:
            # viewers of the old connection hear media.unpublished, then media.published
            await self.end_feed(old, "replaced")
        pc = RTCPeerConnection(self._config())
        publication = Publication(self, room, user_id, pc)
        try:
            await pc.setRemoteDescription(_offer(sdp))
            for transceiver in pc.getTransceivers():
                kind = transceiver.kind
                sends = transceiver._offerDirection in ("recvonly", "sendrecv")  # our side of it
                if kind in publication.sources or kind not in SUPPORTED or not sends:
                    transceiver.direction = "inactive"
                    continue
                wanted = (*SUPPORTED[kind], "rtx")
                supported = [c for c in transceiver._codecs if c.mimeType.split("/")[1].lower() in wanted]
                transceiver._codecs = supported
                codec = restrict_codecs(transceiver)
                if codec is None:
                    raise MediaError("invalid", f"no supported {kind} codec offered (Opus; VP8 or H.264)")
                transceiver.direction = "recvonly"
                receiver = transceiver.receiver
                source = Source(publication, kind, codec, _pli(receiver, kind))
                source.receiver = receiver
                PassThroughReceiver.adopt(receiver, source.on_frame, codec.clockRate, source.codec_key,
                                          min_bitrate=self.min_bitrate)
                publication.sources[kind] = source
            if not publication.sources:
                raise MediaError("invalid", "the offer sends neither audio nor video")
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except MediaError:
            await pc.close()
            raise
        except Exception as exc:
            await pc.close()
            raise MediaError("invalid", f"unusable offer: {exc}") from exc

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed") and not publication.closed:
                await self.end_feed(publication, pc.connectionState)

        self.feeds[publication.key] = publication
        if self.on_published:
            self.on_published(room, user_id, publication.kinds())
        return str(pc.localDescription.sdp)

    async def unpublish(self, room: str, user_id: str) -> bool:
        feed = self.feeds.get((room, user_id))
        if not isinstance(feed, Publication):
            return False
        await self.end_feed(feed, "stopped")
        return True

    async def end_feed(self, feed: Feed, reason: str, announce: bool = True) -> None:
        """Close a feed and its viewers; a publication's end is announced (an edge's is not: the
        origin announces it)."""
        if feed.closed:
            return
        feed.closed = True
        if self.feeds.get(feed.key) is feed:
            del self.feeds[feed.key]
        self._count_gone(feed)
        kinds = feed.kinds()
        if feed.local:
            log.info("media %s: %s stopped publishing (%s)", feed.room, feed.user_id, reason)
        try:
            await feed.close()
        finally:
            if announce and feed.local and self.on_unpublished:
                self.on_unpublished(feed.room, feed.user_id, kinds, reason)

    # -- subscribing -----------------------------------------------------------------------------
    async def subscribe(self, room: str, user_id: str, publisher_id: str, sdp: str,
                        origin: str | None = None) -> str:
        """Accept a viewer's offer (recvonly) for one publisher's media; return the answer.

        `origin` is the pipe address of the feed's origin when this relay is to be an edge of it:
        the feed is then received from there first (once, for every viewer here)."""
        self._ensure_watchdog()
        feed = self.feeds.get((room, publisher_id))
        if feed is None and origin is not None:
            feed = await self._relayed(room, publisher_id, origin)
        if feed is None or feed.closed:
            raise MediaError("not_found", "that publisher is not sending media in this room")
        old = feed.subscriptions.pop(user_id, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(self._config())
        outputs: list[Output] = []
        try:
            await pc.setRemoteDescription(_offer(sdp))
            used: set[str] = set()
            for transceiver in pc.getTransceivers():
                source = feed.sources.get(transceiver.kind)
                if source is None or transceiver.kind in used:
                    transceiver.direction = "inactive"
                    continue
                if restrict_codecs(transceiver, source.codec) is None:
                    raise MediaError("invalid", f"the offer cannot receive {source.codec.mimeType}")
                output = Output(source)
                pc.addTrack(output)
                ForwardingSender.adopt(transceiver.sender, source.request_keyframe)
                outputs.append(output)
                used.add(transceiver.kind)
            if not outputs:
                raise MediaError("invalid", "the offer receives none of the published kinds")
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except MediaError:
            await pc.close()
            raise
        except Exception as exc:
            await pc.close()
            raise MediaError("invalid", f"unusable offer: {exc}") from exc
        if feed.closed:  # the feed ended while we negotiated
            await pc.close()
            raise MediaError("not_found", "that publisher is not sending media in this room")
        for output in outputs:
            output.source.add(output)
            if output.need_keyframe and not output.source.gop.fresh(output.source.clock()):
                # ask now, not when the viewer's transport is up (ICE and DTLS take a round trip or
                # three): the keyframe is then in the kept group by the time the viewer can take it
                output.source.request_keyframe()
        sub = Subscription(room, user_id, publisher_id, pc, outputs)
        feed.subscriptions[user_id] = sub
        if isinstance(feed, RelayedFeed):
            feed.idle_since = None

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "connected":
                for output in outputs:
                    output.activate()
            elif pc.connectionState in ("failed", "closed"):
                await self._drop_subscription(feed, sub)

        return str(pc.localDescription.sdp)

    async def _relayed(self, room: str, publisher_id: str, origin: str) -> Feed:
        """The feed from its origin, attached once however many viewers ask at the same time."""
        key = (room, publisher_id)
        pending = self._attaching.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if self.attach is None:
            raise MediaError("not_found", "this relay cannot receive feeds from other workers")
        future: asyncio.Future[Feed] = asyncio.get_running_loop().create_future()
        self._attaching[key] = future
        try:
            feed: Feed = await self.attach(self, room, publisher_id, origin)
            self.feeds[key] = feed
            future.set_result(feed)
            return feed
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._attaching[key]

    async def _drop_subscription(self, feed: Feed, sub: Subscription) -> None:
        if feed.subscriptions.get(sub.user_id) is sub:
            del feed.subscriptions[sub.user_id]
        if not sub.closed:
            await sub.close()
            if self.on_viewer_left is not None:
                self.on_viewer_left(sub.room, sub.user_id, sub.publisher_id)
        if isinstance(feed, RelayedFeed) and not feed.subscriptions:
            feed.idle_since = time.monotonic()

    async def unsubscribe(self, room: str, user_id: str, publisher_id: str | None) -> int:
        closed = 0
        for feed in list(self.feeds.values()):
            if feed.room != room or (publisher_id is not None and feed.user_id != publisher_id):
                continue
            sub = feed.subscriptions.get(user_id)
            if sub is not None:
                await self._drop_subscription(feed, sub)
                closed += 1
        return closed

    async def end_room(self, room: str, reason: str = "ended") -> None:
        for feed in [f for f in self.feeds.values() if f.room == room]:
            await self.end_feed(feed, reason)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        for feed in list(self.feeds.values()):
            await self.end_feed(feed, "shutdown", announce=False)

    # -- introspection ---------------------------------------------------------------------------
    def publishers(self, room: str) -> list[str]:
        return [f.user_id for f in self.feeds.values() if f.room == room and f.local]

    def viewers(self) -> int:
        return sum(len(f.subscriptions) for f in self.feeds.values())

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"publications": len(self.publications), "subscriptions": self.viewers(), "rooms": {}}
        for feed in self.feeds.values():
            out["rooms"].setdefault(feed.room, {})[feed.user_id] = feed.stats()
        return out

    def counters(self) -> dict[str, Any]:
        """Totals since start (for metrics): frames in and out and dropped by kind, keyframe requests."""
        totals: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.gone.items()}
        for feed in self.feeds.values():
            for kind, source in feed.sources.items():
                totals["frames_in"][kind] += source.frames
                totals["keyframe_requests"] += source.throttle.sent
                totals["dropped"][kind] += source.dropped
                for consumer in source.consumers:
                    totals["dropped"][kind] += consumer.dropped
                    totals["frames_out"][kind] += getattr(consumer, "sent", 0)
                totals["frames_out"][kind] += source.sent_by_gone
        return totals

    def _count_gone(self, feed: Feed) -> None:
        for kind, source in feed.sources.items():
            self.gone["frames_in"][kind] += source.frames
            self.gone["keyframe_requests"] += source.throttle.sent
            self.gone["frames_out"][kind] += source.sent_by_gone + sum(getattr(c, "sent", 0) for c in source.consumers)
            self.gone["dropped"][kind] += source.dropped + sum(c.dropped for c in source.consumers)

    # -- feeds nobody feeds or watches any more ----------------------------------------------------
    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        # ICE consent freshness notices a vanished publisher only after ~30 s; media silence is faster.
        while True:
            await asyncio.sleep(min(1.0, self.media_timeout / 2))
            now = time.monotonic()
            for feed in list(self.feeds.values()):
                if isinstance(feed, Publication):
                    newest = max((s.last_frame for s in feed.sources.values()), default=feed.started)
                    if now - max(newest, feed.started) > self.media_timeout:
                        await self.end_feed(feed, "timeout")
                elif (isinstance(feed, RelayedFeed) and feed.idle_since is not None
                      and now - feed.idle_since > RELAYED_LINGER):
                    await self.end_feed(feed, "idle")


def _pli(receiver: Any, kind: str) -> Callable[[], Awaitable[bool]]:
    async def send() -> bool:
        if kind != "video":
            return True
        result: bool = await receiver.request_keyframe()
        return result

    return send


def _offer(sdp: str) -> RTCSessionDescription:
    if not isinstance(sdp, str) or "v=0" not in sdp[:64] or "m=" not in sdp:
        raise MediaError("invalid", "sdp is not an SDP offer")
    return RTCSessionDescription(sdp=sdp, type="offer")
