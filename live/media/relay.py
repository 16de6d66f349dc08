"""The pass-through SFU: a publisher's encoded frames reach every subscriber, never decoded.

One `Relay` per process. Everything in it runs on the relay's own event loop (`RelayThread`), never
on the loop that serves the gateway: a burst of packets cannot delay a chat message.

    publisher --RTP--> PassThroughReceiver --av.Packet--> Source --+--> Output (subscriber 1) --> RTCRtpSender (packetize only)
                                                                   +--> Output (subscriber n) --> ...
                                                                   +--> taps (recorder, thumbnails: their own threads)

What forwarding has to do that an encoder would otherwise do for us:
- keyframes: a new subscriber's video starts, as soon as its connection comes up, with the
  source's newest keyframe and the frames since (`GopCache`, when they are under 1.5 s old);
  otherwise it is held until a keyframe, and the publisher is asked for one (PLI);
- subscribers' PLI/FIR go to the publisher, at most one a second per source (`KeyframeThrottle`:
  a request inside the window is deferred to its end, never lost, and requests coalesce);
- per-subscriber queues are bounded: a slow subscriber loses its oldest audio; for video a full
  queue is flushed and the subscriber waits for the next keyframe (a dropped delta frame would
  corrupt everything up to it anyway) and asks for one;
- every received frame is consumed (the sink replaces the decoder), so nothing piles up.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from live.media import metrics
from live.media.gop import GopCache
from live.media.passthrough import (
    ForwardingSender,
    PassThroughReceiver,
    check_aiortc,
    is_keyframe,
    restrict_codecs,
)

log = logging.getLogger("live.media")

T = TypeVar("T")

VIDEO_QUEUE = 90  # frames (3 s at 30 fps) before a subscriber's video is flushed to the next keyframe
AUDIO_QUEUE = 100  # frames (2 s of 20 ms Opus) before the oldest audio is dropped
KEYFRAME_INTERVAL = 1.0  # seconds: at most one PLI a second reaches a publisher, per source
SUPPORTED = {"audio": ("opus",), "video": ("vp8", "h264")}


class MediaError(Exception):
    """A negotiation the relay refuses; `reason` is one of the contract's codes' meanings."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "not_found" | "invalid" | "conflict"


class KeyframeThrottle:
    """At most one keyframe request per `interval`; a request inside the window is sent at its end."""

    def __init__(self, send: Callable[[], Awaitable[bool]], interval: float = KEYFRAME_INTERVAL) -> None:
        self.send = send
        self.interval = interval
        self.last = -1e9
        self.pending: asyncio.TimerHandle | None = None
        self.sent = 0
        self.requested = 0

    def request(self) -> None:
        self.requested += 1
        if self.pending is not None:
            return  # one is already scheduled: coalesce
        loop = asyncio.get_running_loop()
        wait = self.last + self.interval - time.monotonic()
        if wait <= 0:
            self._fire()
        else:
            self.pending = loop.call_later(wait, self._fire)

    def _fire(self) -> None:
        self.pending = None
        self.last = time.monotonic()
        self.sent += 1
        metrics.KEYFRAME_REQUESTS.inc()
        asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        try:
            if not await self.send():
                # no media yet (SSRC unknown): try again at the end of the window
                self.sent -= 1
                self.pending = asyncio.get_running_loop().call_later(self.interval, self._fire)
        except Exception:
            log.debug("keyframe request failed", exc_info=True)

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None


class Output(MediaStreamTrack):
    """One subscriber's track: a bounded queue of encoded frames that its RTCRtpSender drains."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.limit = VIDEO_QUEUE if source.kind == "video" else AUDIO_QUEUE
        self.queue: collections.deque[av.Packet] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.active = False  # frames are queued only once the subscriber's transport is up
        self.need_keyframe = source.kind == "video"
        self.sent = 0
        self.dropped = 0
        self.ended = False

    def activate(self) -> None:
        if not self.active:
            self.active = True
            if self.need_keyframe:
                replay = self.source.gop.replay(time.monotonic()) if self.kind == "video" else []
                if replay:
                    self.need_keyframe = False
                    self.queue.extend(replay)  # GOP_MAX_FRAMES is under the queue limit
                    self._wake()
                else:
                    self.source.request_keyframe()

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        if not self.active or self.ended:
            return
        if self.need_keyframe:
            if not keyframe:
                return
            self.need_keyframe = False
        if len(self.queue) >= self.limit:
            if self.kind == "video":
                self.dropped += len(self.queue)
                metrics.DROP["video"].inc(len(self.queue))
                self.queue.clear()
                if not keyframe:
                    self.need_keyframe = True
                    self.source.request_keyframe()
                    return
            else:
                self.queue.popleft()
                self.dropped += 1
                metrics.DROP["audio"].inc()
        self.queue.append(packet)
        self._wake()

    def end(self) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def recv(self) -> av.Packet:  # type: ignore[override]
        while not self.queue:
            if self.ended or self.readyState != "live":
                raise MediaStreamError
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        self.sent += 1
        metrics.OUT[self.kind].inc()
        return self.queue.popleft()

    def stop(self) -> None:
        super().stop()
        self.source.outputs.discard(self)
        self.end()


# (source, packet, keyframe), on the relay loop: must return at once (hand work to a thread)
Tap = Callable[["Source", av.Packet, bool], None]


class Source:
    """One kind (audio or video) of one publication: fans its frames out."""

    def __init__(self, publication: Publication, kind: str, codec: RTCRtpCodecParameters) -> None:
        self.publication = publication
        self.kind = kind
        self.codec = codec
        self.codec_name = codec.mimeType.split("/", 1)[1]
        self.codec_key = self.codec_name.upper() if kind == "video" else self.codec_name.lower()
        self.outputs: set[Output] = set()
        self.receiver: PassThroughReceiver | None = None
        self.throttle = KeyframeThrottle(self._pli)
        self.gop = GopCache()  # what a joining subscriber starts with (video)
        self.frames = 0
        self.keyframes = 0
        self.last_frame = time.monotonic()
        self.first_frame_at: float | None = None
        self.ended = False

    async def _pli(self) -> bool:
        if self.receiver is None or self.kind != "video":
            return True
        return await self.receiver.request_keyframe()

    def request_keyframe(self) -> None:
        if self.kind == "video" and not self.ended:
            self.throttle.request()

    def on_packet(self, packet: av.Packet | None) -> None:
        if packet is None:
            self.ended = True
            self.publication.source_ended(self)
            return
        self.frames += 1
        metrics.IN[self.kind].inc()
        self.last_frame = time.monotonic()
        if self.first_frame_at is None:
            self.first_frame_at = self.last_frame
        keyframe = is_keyframe(self.codec_key, bytes(packet)) if self.kind == "video" else True
        if self.kind == "video":
            if keyframe:
                self.keyframes += 1
            self.gop.add(packet, keyframe, self.last_frame)
        for output in tuple(self.outputs):
            output.push(packet, keyframe)
        for tap in tuple(self.publication.relay.taps):
            try:
                tap(self, packet, keyframe)
            except Exception:
                log.exception("a media tap failed; dropping it")
                self.publication.relay.taps.remove(tap)

    def close(self) -> None:
        self.ended = True
        self.throttle.cancel()
        self.gop.clear()
        for output in tuple(self.outputs):
            output.end()
        self.outputs.clear()


@dataclasses.dataclass
class Subscription:
    room: str
    user_id: str
    publisher_id: str
    pc: RTCPeerConnection
    outputs: list[Output]

    closed: bool = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            metrics.SUBSCRIPTIONS.dec()
        for output in self.outputs:
            output.stop()
        await self.pc.close()


class Publication:
    """One publisher's connection in a room, with its sources."""

    def __init__(self, relay: Relay, room: str, user_id: str, pc: RTCPeerConnection) -> None:
        self.relay = relay
        self.room = room
        self.user_id = user_id
        self.pc = pc
        self.sources: dict[str, Source] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.closed = False
        self.started = time.monotonic()

    @property
    def key(self) -> tuple[str, str]:
        return (self.room, self.user_id)

    def kinds(self) -> list[str]:
        return sorted(self.sources)

    def source_ended(self, source: Source) -> None:
        # A BYE or a lost transport on any track ends the whole publication.
        if not self.closed:
            asyncio.ensure_future(self.relay._end_publication(self, "ended"))

    async def close(self) -> None:
        self.closed = True
        for source in self.sources.values():
            source.close()
        for sub in list(self.subscriptions.values()):
            await sub.close()
        self.subscriptions.clear()
        await self.pc.close()


# (room, user_id, kinds) ; (room, user_id, kinds, reason)
PublishedHook = Callable[[str, str, list[str]], None]
UnpublishedHook = Callable[[str, str, list[str], str], None]


class Relay:
    """Rooms of publications and their subscriptions. Call only on the relay's loop."""

    def __init__(
        self,
        ice_servers: list[dict[str, Any]] | None = None,
        media_timeout: float = 10.0,
        on_published: PublishedHook | None = None,
        on_unpublished: UnpublishedHook | None = None,
        min_bitrate: int = 0,
    ) -> None:
        check_aiortc()
        self.ice_servers = ice_servers or []
        self.media_timeout = media_timeout
        self.min_bitrate = min_bitrate  # REMB floor to publishers (LIVE_MEDIA_MIN_BITRATE)
        self.on_published = on_published
        self.on_unpublished = on_unpublished
        self.publications: dict[tuple[str, str], Publication] = {}
        self.taps: list[Tap] = []
        self._watchdog: asyncio.Task[None] | None = None

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
        old = self.publications.get((room, user_id))
        if old is not None:
            # subscribers of the old connection hear media.unpublished, then media.published
            await self._end_publication(old, "replaced")
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
                supported = [c for c in transceiver._codecs if c.mimeType.split("/")[1].lower() in (*SUPPORTED[kind], "rtx")]
                transceiver._codecs = supported
                codec = restrict_codecs(transceiver)
                if codec is None:
                    raise MediaError("invalid", f"no supported {kind} codec offered (Opus; VP8 or H.264)")
                transceiver.direction = "recvonly"
                source = Source(publication, kind, codec)
                source.receiver = PassThroughReceiver.adopt(transceiver.receiver, source.on_packet, codec.clockRate,
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
                await self._end_publication(publication, pc.connectionState)

        self.publications[publication.key] = publication
        metrics.PUBLICATIONS.inc()
        if self.on_published:
            self.on_published(room, user_id, publication.kinds())
        return pc.localDescription.sdp

    async def unpublish(self, room: str, user_id: str) -> bool:
        publication = self.publications.get((room, user_id))
        if publication is None:
            return False
        await self._end_publication(publication, "stopped")
        return True

    async def _end_publication(self, publication: Publication, reason: str, announce: bool = True) -> None:
        if publication.closed:
            return
        publication.closed = True
        if self.publications.get(publication.key) is publication:
            del self.publications[publication.key]
            metrics.PUBLICATIONS.dec()
        kinds = publication.kinds()
        log.info("media %s: %s stopped publishing (%s)", publication.room, publication.user_id, reason)
        try:
            await publication.close()
        finally:
            if announce and self.on_unpublished:
                self.on_unpublished(publication.room, publication.user_id, kinds, reason)

    # -- subscribing -----------------------------------------------------------------------------
    async def subscribe(self, room: str, user_id: str, publisher_id: str, sdp: str) -> str:
        """Accept a subscriber's offer (recvonly) for one publisher's media; return the answer."""
        publication = self.publications.get((room, publisher_id))
        if publication is None:
            raise MediaError("not_found", "that publisher is not sending media in this room")
        old = publication.subscriptions.pop(user_id, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(self._config())
        outputs: list[Output] = []
        try:
            await pc.setRemoteDescription(_offer(sdp))
            used: set[str] = set()
            for transceiver in pc.getTransceivers():
                source = publication.sources.get(transceiver.kind)
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
        for output in outputs:
            output.source.outputs.add(output)
        sub = Subscription(room, user_id, publisher_id, pc, outputs)
        publication.subscriptions[user_id] = sub
        metrics.SUBSCRIPTIONS.inc()

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "connected":
                for output in outputs:
                    output.activate()
            elif pc.connectionState in ("failed", "closed"):
                if publication.subscriptions.get(user_id) is sub:
                    del publication.subscriptions[user_id]
                await sub.close()

        return pc.localDescription.sdp

    async def unsubscribe(self, room: str, user_id: str, publisher_id: str | None) -> int:
        closed = 0
        for publication in list(self.publications.values()):
            if publication.room != room or (publisher_id is not None and publication.user_id != publisher_id):
                continue
            sub = publication.subscriptions.pop(user_id, None)
            if sub is not None:
                await sub.close()
                closed += 1
        return closed

    async def end_room(self, room: str, reason: str = "ended") -> None:
        for publication in [p for p in self.publications.values() if p.room == room]:
            await self._end_publication(publication, reason)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        for publication in list(self.publications.values()):
            await self._end_publication(publication, "shutdown", announce=False)

    # -- introspection ---------------------------------------------------------------------------
    def publishers(self, room: str) -> list[str]:
        return [p.user_id for p in self.publications.values() if p.room == room]

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"publications": len(self.publications), "subscriptions": 0, "rooms": {}}
        for p in self.publications.values():
            out["subscriptions"] += len(p.subscriptions)
            room = out["rooms"].setdefault(p.room, {})
            room[p.user_id] = {
                "subscribers": len(p.subscriptions),
                "sources": {
                    k: {
                        "codec": s.codec.mimeType,
                        "frames": s.frames,
                        "keyframes": s.keyframes,
                        "pli_sent": s.throttle.sent,
                        "pli_requested": s.throttle.requested,
                        "gop_replays": s.gop.replays,
                        "dropped": sum(o.dropped for o in s.outputs),
                    }
                    for k, s in p.sources.items()
                },
            }
        return out

    # -- a publisher that stops sending without a BYE ---------------------------------------------
    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        # ICE consent freshness notices a vanished peer only after ~30 s; media silence is faster.
        while True:
            await asyncio.sleep(min(1.0, self.media_timeout / 2))
            now = time.monotonic()
            for publication in list(self.publications.values()):
                newest = max((s.last_frame for s in publication.sources.values()), default=publication.started)
                if now - max(newest, publication.started) > self.media_timeout:
                    await self._end_publication(publication, "timeout")


def _offer(sdp: str) -> RTCSessionDescription:
    if not isinstance(sdp, str) or "v=0" not in sdp[:64] or "m=" not in sdp:
        raise MediaError("invalid", "sdp is not an SDP offer")
    return RTCSessionDescription(sdp=sdp, type="offer")


class RelayThread:
    """Runs a `Relay` on its own thread and event loop; `call` bridges from any other loop."""

    def __init__(self, make: Callable[[], Relay]) -> None:
        self._make = make
        self.loop = asyncio.new_event_loop()
        self.relay: Relay | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="media-relay", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.relay = self._make()
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self) -> Relay:
        self.thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self.relay is not None
        return self.relay

    async def call(self, fn: Callable[[Relay], Coroutine[Any, Any, T]]) -> T:
        assert self.relay is not None
        future = asyncio.run_coroutine_threadsafe(fn(self.relay), self.loop)
        return await asyncio.wrap_future(future)

    def submit(self, fn: Callable[[Relay], Any]) -> None:
        """Run a plain function on the relay loop (fire and forget)."""
        assert self.relay is not None
        self.loop.call_soon_threadsafe(fn, self.relay)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.thread.is_alive():
            return
        if self.relay is not None:
            try:
                asyncio.run_coroutine_threadsafe(self.relay.close(), self.loop).result(timeout)
            except Exception:
                log.exception("closing the relay failed")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
