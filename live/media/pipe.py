"""The pipe between media processes: an origin sends each frame of a feed once to every edge.

One live's viewers are spread over several media processes (a relay tree, as mediasoup's
`PipeTransport` and LiveKit's relay do it): the process the publisher is connected to is the
feed's *origin*; another process with viewers of that feed is an *edge*. The edge opens one TCP
connection to the origin per feed and receives every encoded frame once; it packetizes them
itself and sends them to its own viewers. Its viewers' keyframe requests go back up the same
connection to the origin's source, and through its throttle.

Wire format, both ways: `!IB` (body length, message type) then the body.

    edge -> origin   H hello     msgpack {room, publisher, token}
                     K keyframe  (empty): a viewer here needs a keyframe
    origin -> edge   C codecs    msgpack {kind: codec}, then frames
                     E error     msgpack {kind, message}, then the connection closes
                     F frame     `!BBq` (0 audio / 1 video, keyframe, pts) + the encoded bytes
                     X end       msgpack {reason}: the feed ended

`token` is an HMAC of the room and publisher with a key derived from `LIVE_SECRET`, so only
processes of the same deployment can pull a feed.

The origin never waits for an edge: a frame is written to the connection's buffer or, when that
holds more than `PIPE_BUFFER` bytes (the edge or its network stalls), dropped; a dropped video
frame makes that pipe wait for the next keyframe (asked for through the throttle), so the stalled
edge's viewers resume cleanly and nobody else is slowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import struct
from typing import Any

import msgpack
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters

from live.media.frames import Frame
from live.media.relay import Feed, MediaError, Relay, RelayedFeed, Source

log = logging.getLogger("live.media.pipe")

HEADER = struct.Struct("!IB")
FRAME = struct.Struct("!BBq")
HELLO, CODECS, ERROR, FRAME_MSG, KEYFRAME, END = b"HCEFKX"
MAX_MESSAGE = 8 << 20  # bytes: larger is a broken or hostile peer
PIPE_BUFFER = 2 << 20  # bytes buffered towards one edge before its frames are dropped (default)
HANDSHAKE_SECONDS = 5.0
KINDS = ("audio", "video")
EDGE_KEYFRAME_INTERVAL = 0.2  # an edge's viewers' requests, merged before they go up the pipe


def pipe_key(secret: str) -> bytes:
    return hashlib.sha256(b"live media pipe\n" + secret.encode()).digest()


def feed_token(key: bytes, room: str, publisher: str) -> str:
    return hmac.new(key, f"{room}\n{publisher}".encode(), hashlib.sha256).hexdigest()


def _message(kind: int, body: bytes = b"") -> bytes:
    return HEADER.pack(len(body), kind) + body


async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    length, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
    if length > MAX_MESSAGE:
        raise ConnectionError(f"a pipe message of {length} bytes")
    return kind, await reader.readexactly(length) if length else b""


def _codec_to_wire(codec: RTCRtpCodecParameters) -> dict[str, Any]:
    return {"mime": codec.mimeType, "clock": codec.clockRate, "channels": codec.channels,
            "pt": codec.payloadType, "params": dict(codec.parameters),
            "fb": [[f.type, f.parameter] for f in codec.rtcpFeedback]}


def _codec_from_wire(raw: dict[str, Any]) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=str(raw["mime"]), clockRate=int(raw["clock"]), channels=raw.get("channels"),
        payloadType=int(raw["pt"]), parameters=dict(raw.get("params") or {}),
        rtcpFeedback=[RTCRtcpFeedback(type=t, parameter=p) for t, p in raw.get("fb") or []])


# -- the origin's side -------------------------------------------------------------------------


class PipeSink:
    """One edge's consumer of one source at the origin: writes frames, never waits."""

    def __init__(self, source: Source, writer: asyncio.StreamWriter, limit: int = PIPE_BUFFER) -> None:
        self.source = source
        self.writer = writer
        self.limit = limit
        self.kind_id = KINDS.index(source.kind)
        self.need_keyframe = source.kind == "video"
        self.forwarded = 0
        self.dropped = 0

    def start(self) -> None:
        """Send the kept group of pictures at once (the edge's first viewer starts from it), or
        wait for a keyframe and ask for one."""
        if self.need_keyframe:
            replay = self.source.gop.replay(self.source.clock())
            if replay:
                self.need_keyframe = False
                for frame in replay:
                    self._write(frame)
            else:
                self.source.request_keyframe()

    def push(self, frame: Frame) -> None:
        if self.writer.is_closing():
            return
        if self.need_keyframe:
            if not frame.keyframe:
                return
            self.need_keyframe = False
        if self.writer.transport.get_write_buffer_size() > self.limit:
            self.dropped += 1
            if self.kind_id == 1:
                self.need_keyframe = True
                self.source.request_keyframe()
            return
        self._write(frame)

    def _write(self, frame: Frame) -> None:
        data = frame.data
        self.writer.writelines((HEADER.pack(FRAME.size + len(data), FRAME_MSG),
                                FRAME.pack(self.kind_id, frame.keyframe, frame.pts), data))
        self.forwarded += 1

    def end(self) -> None:
        if not self.writer.is_closing():
            self.writer.write(_message(END, msgpack.packb({"reason": "ended"})))
            self.writer.close()


class PipeServer:
    """Serves this relay's feeds to edges (`host:port` is advertised with the worker's state)."""

    def __init__(self, relay: Relay, secret: str, host: str = "127.0.0.1", port: int = 0,
                 advertise: str | None = None, buffer_limit: int = PIPE_BUFFER) -> None:
        self.relay = relay
        self.buffer_limit = buffer_limit
        self.key = pipe_key(secret)
        self.host = host
        self.port = port
        self.advertise = advertise
        self.server: asyncio.Server | None = None
        self.address = ""
        self.edges: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        port = self.server.sockets[0].getsockname()[1]
        self.address = f"{self.advertise or self.host}:{port}"
        return self.address

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.edges):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sinks: list[PipeSink] = []
        self.edges.add(writer)
        try:
            kind, body = await asyncio.wait_for(_read(reader), HANDSHAKE_SECONDS)
            hello = msgpack.unpackb(body) if kind == HELLO else None
            if not isinstance(hello, dict) or not all(
                isinstance(hello.get(k), str) for k in ("room", "publisher", "token")
            ):
                return
            room, publisher = hello["room"], hello["publisher"]
            if not hmac.compare_digest(hello["token"], feed_token(self.key, room, publisher)):
                log.warning("a pipe from %s was refused: bad token", writer.get_extra_info("peername"))
                return
            feed = self.relay.feeds.get((room, publisher))
            if feed is None or feed.closed:
                writer.write(_message(ERROR, msgpack.packb(
                    {"kind": "not_found", "message": "that publisher is not sending media here"})))
                return
            writer.write(_message(CODECS, msgpack.packb(
                {kind: _codec_to_wire(source.codec) for kind, source in feed.sources.items()})))
            for source in feed.sources.values():
                sink = PipeSink(source, writer, self.buffer_limit)
                source.add(sink)
                sinks.append(sink)
                sink.start()
            log.info("media %s: an edge receives %s's feed", room, publisher)
            while True:
                kind, body = await _read(reader)
                if kind == KEYFRAME and "video" in feed.sources:
                    feed.sources["video"].request_keyframe()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ValueError, msgpack.ExtraData,
                msgpack.FormatError, msgpack.StackError):
            pass
        finally:
            self.edges.discard(writer)
            for sink in sinks:
                sink.source.remove(sink)
            writer.close()


# -- the edge's side ---------------------------------------------------------------------------


class Upstream:
    """An edge's attachments to origins: `attach` is given to the `Relay`."""

    def __init__(self, secret: str) -> None:
        self.key = pipe_key(secret)
        self.tasks: set[asyncio.Task[None]] = set()

    async def attach(self, relay: Relay, room: str, publisher: str, address: str) -> RelayedFeed:
        host, _, port = address.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), HANDSHAKE_SECONDS)
        except (OSError, ValueError, TimeoutError) as exc:
            raise MediaError("unavailable", f"the feed's origin cannot be reached: {exc}") from None
        try:
            writer.write(_message(HELLO, msgpack.packb(
                {"room": room, "publisher": publisher, "token": feed_token(self.key, room, publisher)})))
            kind, body = await asyncio.wait_for(_read(reader), HANDSHAKE_SECONDS)
            reply = msgpack.unpackb(body)
            if kind == ERROR:
                raise MediaError(str(reply.get("kind", "not_found")), str(reply.get("message", "refused")))
            if kind != CODECS or not isinstance(reply, dict) or not reply:
                raise MediaError("unavailable", "the feed's origin answered oddly")
        except MediaError:
            writer.close()
            raise
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ValueError) as exc:
            writer.close()
            raise MediaError("unavailable", f"the feed's origin went away: {exc!r}") from None
        feed = RelayedFeed(relay, room, publisher, detach=writer.close)
        for kind, raw in reply.items():
            if kind in KINDS:
                feed.sources[kind] = Source(feed, kind, _codec_from_wire(raw), _ask_origin(writer),
                                            keyframe_interval=EDGE_KEYFRAME_INTERVAL)
        task = asyncio.ensure_future(self._receive(relay, feed, reader))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        log.info("media %s: receiving %s's feed from %s", room, publisher, address)
        return feed

    async def _receive(self, relay: Relay, feed: Feed, reader: asyncio.StreamReader) -> None:
        sources = [feed.sources.get(kind) for kind in KINDS]
        reason = "origin ended"
        try:
            while not feed.closed:
                kind, body = await _read(reader)
                if kind == FRAME_MSG:
                    kind_id, keyframe, pts = FRAME.unpack_from(body)
                    source = sources[kind_id] if kind_id < 2 else None
                    if source is not None:
                        source.on_frame(Frame(body[FRAME.size:], pts, bool(keyframe)))
                elif kind == END:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, struct.error):
            reason = "origin lost"
        except asyncio.CancelledError:
            reason = "shutdown"
        if not feed.closed:
            log.info("media %s: %s's feed from its origin stopped (%s)", feed.room, feed.user_id, reason)
            with contextlib.suppress(Exception):
                await relay.end_feed(feed, reason, announce=False)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()


def _ask_origin(writer: asyncio.StreamWriter) -> Any:
    async def send() -> bool:
        if not writer.is_closing():
            writer.write(_message(KEYFRAME))
        return True

    return send
