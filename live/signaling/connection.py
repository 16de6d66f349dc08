"""One WebSocket connection: the thin adapter between a Starlette socket and the session core.

Three pieces of I/O around the pure `Session`:

- the reader feeds frames to the session and carries out its effects in order (requests are
  awaited one at a time, so replies come back in request order; media negotiation, which can
  take seconds, runs beside the others);
- the writer owns the sending side: it takes everything queued in the byte-capped `Outbox` and
  writes it as one frame, sends a `ping` message when nothing went out for a heartbeat, and
  sends the close frame;
- `deliver` is what the hub calls for each room event: never awaits, de-duplicates chat
  messages by `seq`, and holds events back while a join is in flight so they follow its reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from live.auth.tokens import Principal
from live.rooms import metrics
from live.rooms.access import RoomAccess
from live.signaling import codec
from live.signaling.outbox import Outbox
from live.signaling.session import (
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_SLOW,
    Close,
    ConnectionState,
    Effect,
    Reply,
    Request,
    Session,
)

if TYPE_CHECKING:
    from live.signaling.gateway import Gateway

log = logging.getLogger("live.signaling.connection")

# How long a close frame may wait for a client that stopped reading before we give up on it.
CLOSE_TIMEOUT = 10.0
CONCURRENT_TYPES = frozenset({"media.publish", "media.subscribe", "media.stop"})


@dataclasses.dataclass
class Seat:
    """A connection's place in one room."""

    access: RoomAccess
    epoch: Any = None
    last_seq: int = 0
    # Events that arrive while the join is in flight: delivered after its reply.
    pending: list[tuple[int | None, bytes, float]] | None = dataclasses.field(default_factory=list)
    ready: bool = False


class Connection:
    def __init__(self, websocket: WebSocket, gateway: Gateway, session: Session) -> None:
        self.ws = websocket
        self.gateway = gateway
        self.session = session
        self.user: Principal = session.user
        self.user_id = session.user.id
        self.encoding = session.encoding
        self.outbox = Outbox(gateway.settings.send_queue_bytes)
        self.heartbeat = gateway.settings.heartbeat_seconds
        self.seats: dict[str, Seat] = {}
        self.close_code: int | None = None
        self._flush_then_close: tuple[int, str] | None = None
        self._closed = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._last_sent = 0.0  # loop time of the last frame written (heartbeat)

    # -- delivery (called by the hub and the gateway; never awaits) ---------------------------

    def deliver(self, room: str | None, seq: int | None, part: bytes, origin: float) -> None:
        if self.close_code is not None:
            return
        if room is not None:
            seat = self.seats.get(room)
            if seat is None:
                return
            if seat.pending is not None:
                seat.pending.append((seq, part, origin))
                return
            if seq is not None:
                if seq <= seat.last_seq:
                    return
                seat.last_seq = seq
        self._put(part, origin)

    def send(self, message: dict[str, Any]) -> None:
        """Queue one message of our own (a reply, a notice)."""
        if self.close_code is None:
            self._put(codec.encode_one(message, self.encoding), time.time())

    def _put(self, part: bytes, origin: float) -> None:
        if not self.outbox.put(part, origin):
            metrics.SLOW_CONSUMERS.inc()
            log.info("closing a slow connection of %s (backlog over %d bytes)",
                     self.user_id, self.outbox.cap_bytes)
            self.abort(CLOSE_TOO_SLOW, "too slow: outgoing backlog over the limit")

    def finish_join(self, room: str, epoch: Any, seq: int) -> None:
        """The join's reply is queued: release the events held back, minus what it covered."""
        seat = self.seats.get(room)
        if seat is None:
            return
        seat.epoch, seat.last_seq = epoch, seq
        held, seat.pending = seat.pending or [], None
        for held_seq, part, origin in held:
            self.deliver(room, held_seq, part, origin)

    # -- closing -------------------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued has been written (a notice before a ban's 4003)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.session.close(code, reason)
        self._flush_then_close = (code, reason)
        self.outbox.wake.set()

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping the backlog (a slow consumer)."""
        if self.close_code is not None and self._flush_then_close is None:
            return
        self.close_code = code
        self._flush_then_close = None
        self.session.close(code, reason)
        self.outbox.clear()
        task = asyncio.create_task(self._close_now(code, reason))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _close_now(self, code: int, reason: str) -> None:
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
            try:
                await self._writer
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self._send_close(code, reason)

    async def _send_close(self, code: int, reason: str) -> None:
        metrics.CLOSES.labels(str(code)).inc()
        try:
            await asyncio.wait_for(self.ws.close(code, reason[:120]), CLOSE_TIMEOUT)
        except Exception:  # noqa: BLE001 - the peer is gone or not reading: nothing more to do
            pass
        finally:
            self._closed.set()

    # -- running -------------------------------------------------------------------------------

    async def run(self, welcome: dict[str, Any]) -> None:
        self.send(welcome)
        self._last_sent = asyncio.get_running_loop().time()
        self._writer = asyncio.create_task(self._write(), name="ws-writer")
        heartbeat = asyncio.create_task(self._heartbeat(), name="ws-heartbeat")
        self._side_tasks.add(heartbeat)
        reader = asyncio.create_task(self._read(), name="ws-reader")
        closed = asyncio.create_task(self._closed.wait())
        try:
            await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                exc = reader.exception()
                log.error("connection of %s failed", self.user_id, exc_info=exc)
                self.close(CLOSE_SERVER_ERROR, "server error")
            if self.close_code is not None:
                # Our close (4009, 4029, 4003, 1011...) goes out once the writer has flushed.
                await asyncio.wait_for(self._closed.wait(), CLOSE_TIMEOUT + 1)
        except TimeoutError:
            pass
        finally:
            for task in (reader, closed, self._writer, *self._side_tasks):
                task.cancel()
            await asyncio.gather(reader, closed, self._writer, return_exceptions=True)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while self.session.state is ConnectionState.OPEN:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect" or self.session.state is not ConnectionState.OPEN:
                return  # gone, or closed by us meanwhile (a ban): later frames are not read
            frame = message.get("bytes")
            if frame is None:
                frame = message.get("text") or ""
            effects = self.session.receive_frame(frame, loop.time())
            await self.apply(effects)

    async def apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                self.send(effect.message)
            elif isinstance(effect, Close):
                self.close(effect.code, effect.reason)
            elif isinstance(effect, Request):
                metrics.MESSAGES_IN.labels(effect.type).inc()
                if effect.type in CONCURRENT_TYPES:
                    task = asyncio.create_task(self._perform(effect))
                    self._side_tasks.add(task)
                    task.add_done_callback(self._side_tasks.discard)
                else:
                    await self._perform(effect)

    async def _perform(self, request: Request) -> None:
        effects = await self.gateway.handle(self, request)
        await self.apply(effects)
        if request.type == "room.join" and request.room is not None:
            seat = self.seats.get(request.room)
            if seat is not None and seat.pending is not None and seat.ready:
                self.finish_join(request.room, seat.epoch, seat.last_seq)

    async def _heartbeat(self) -> None:
        """Sends a `ping` message when nothing went out for a heartbeat.

        Its own task with one timer a heartbeat, so the writer's wait per message is a plain
        event wait: a `wait_for` there cost a task and a timer per message per connection, the
        largest share of fan-out time in profiles.
        """
        loop = asyncio.get_running_loop()
        while self.close_code is None:
            await asyncio.sleep(max(0.05, self.heartbeat - (loop.time() - self._last_sent)))
            if loop.time() - self._last_sent >= self.heartbeat and not len(self.outbox):
                self.send({"type": "ping"})
                self._last_sent = loop.time()

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not len(self.outbox):
                if self._flush_then_close is not None:
                    await self._send_close(*self._flush_then_close)
                    return
                self.outbox.wake.clear()
                await self.outbox.wake.wait()
                continue
            items = self.outbox.take()
            if not items:
                continue
            size = sum(len(p) for p, _ in items)
            frame = codec.batch([p for p, _ in items], self.encoding)
            if isinstance(frame, bytes):
                await self.ws.send({"type": "websocket.send", "bytes": frame})
            else:
                await self.ws.send({"type": "websocket.send", "text": frame})
            self.outbox.release(size)
            now = time.time()
            for _, origin in items:
                metrics.FANOUT_LAG.observe(max(0.0, now - origin))
            metrics.MESSAGES_OUT.inc(len(items))
            metrics.FRAMES_OUT.inc()
            self._last_sent = loop.time()
