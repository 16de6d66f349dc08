"""One WebSocket connection: the thin adapter between a Starlette socket and the session core.

I/O around the pure `Session`, with as few tasks per connection as the work allows (a
connection costs memory per task, and fan-out costs CPU per task switch):

- the reader (the connection's own task) feeds frames to the session and carries out its effects
  in order (requests are awaited one at a time, so replies come back in request order; media
  negotiation, which can take seconds, runs beside the others);
- `deliver` is what the hub calls for each room event: never awaits, de-duplicates chat
  messages by `seq`, holds events back while a join is in flight so they follow its reply, and
  puts the bytes in the byte-capped `Outbox`;
- the node's `Flusher` then writes every connection's queued messages at once, one frame each,
  once per event-loop iteration, through the server's synchronous write (`live.signaling.wire`):
  no task switch per recipient, and a connection whose backlog is one batch alone gets that
  batch's ready-made frame, the same bytes as every other such connection (`live.frames`);
- a writer task exists only while a connection has a backlog the socket cannot take now (the
  transport paused for backpressure), to send the close frame, or under a server without the
  synchronous write; it awaits each frame and ends when the backlog is gone;
- the gateway's once-a-second ticker sends the `ping` message to connections idle for a
  heartbeat (`keepalive`), so idle connections hold no timer of their own.

It is given what it needs (the node's flusher, its limits, and `perform`: the gateway's request
router) and knows nothing else of the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from live import frames
from live.auth.tokens import Principal
from live.frames import Batch
from live.room_id import RoomId
from live.rooms import metrics
from live.rooms.access import RoomAccess
from live.signaling.flusher import Flusher
from live.signaling.outbox import Outbox
from live.signaling.session import (
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_SLOW,
    Close,
    ConnectionState,
    Effect,
    Limited,
    Reply,
    Request,
    Session,
)
from live.signaling.wire import SendNow

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
    pending: list[tuple[Batch, float]] | None = dataclasses.field(default_factory=list)
    ready: bool = False
    present: bool = False  # counted in the room's presence (taken back when it leaves)
    held_bytes: int = 0  # what `pending` holds: counted with the outbox against its cap


Perform = Callable[["Connection", Request], Awaitable[list[Effect]]]


class Connection:
    # Slots: 10,000 connections on a node; a __dict__ each would be 10 MB of nothing.
    __slots__ = ("ws", "flusher", "perform", "session", "user", "user_id", "encoding", "outbox", "heartbeat", "seats",
                 "blocked", "suspended_until",
                 "close_code", "_send_now", "_marked", "_held", "_flush_then_close", "_closed", "_writer",
                 "_side_tasks", "_main", "_reading", "_reader_stopped", "_last_sent", "__weakref__")

    def __init__(self, websocket: WebSocket, session: Session, *, perform: Perform, flusher: Flusher,
                 send_queue_bytes: int, heartbeat: float, send_now: SendNow | None = None) -> None:
        self.ws = websocket
        self.flusher = flusher
        self.perform = perform  # what a client request does (the gateway's router)
        self.session = session
        self.user: Principal = session.user
        self.user_id = session.user.id
        self.encoding = session.encoding
        self.outbox = Outbox(send_queue_bytes)
        self.heartbeat = heartbeat
        self.seats: dict[RoomId, Seat] = {}
        # Set by `live.signaling.safety`: whose chat this user blocked (the hub leaves it out), and
        # when their account's suspension ends (epoch seconds, inf: until lifted; None: not suspended).
        self.blocked: frozenset[str] = frozenset()
        self.suspended_until: float | None = None
        self.close_code: int | None = None
        self._send_now = send_now  # the server's synchronous write, when it offers one
        self._marked = False  # waiting in the flusher
        # Until `open()`: messages are queued but not written, so that the client's `welcome` is
        # not read before the node routes this user's events (a client may act on it at once).
        self._held = True
        self._flush_then_close: tuple[int, str] | None = None
        self._closed: asyncio.Event | None = None  # made when a close is under way
        self._writer: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[Any] | None = None
        self._reading = False
        self._reader_stopped = False
        self._last_sent = 0.0  # loop time of the last frame written (heartbeat)

    # -- delivery (called by the hub and the gateway; never awaits) ---------------------------

    def deliver(self, room: RoomId | None, batch: Batch, origin: float) -> None:
        """Queue `batch` (in this connection's encoding), less the chat messages it already has."""
        if self.close_code is not None:
            return
        if room is not None:
            seat = self.seats.get(room)
            if seat is None:
                return
            if seat.pending is not None:
                seat.held_bytes += len(batch)
                if seat.held_bytes + self.outbox.queued_bytes + self.outbox.inflight_bytes > self.outbox.cap_bytes:
                    # A join that takes long in a busy room: what waits for it counts like a backlog.
                    metrics.SLOW_CONSUMERS.inc()
                    self.abort(CLOSE_TOO_SLOW, "too slow: events held during a join over the limit")
                    return
                seat.pending.append((batch, origin))
                return
            if batch.first_seq is not None and batch.last_seq is not None and batch.first_seq > seat.last_seq:
                seat.last_seq = batch.last_seq  # none of it here yet: the whole (shared) batch
            elif not batch.ordered or batch.last_seq is not None:
                fresh = self._unseen(seat, batch)
                if not fresh:
                    return
                if len(fresh) < batch.count:
                    batch = batch.subset(fresh)
        self._put(batch, origin)

    @staticmethod
    def _unseen(seat: Seat, batch: Batch) -> list[int]:
        """The indices of `batch` this seat has not had (by chat seq, in order); moves its seq."""
        fresh = []
        for i, seq in enumerate(batch.seqs):
            if seq is not None:
                if seq <= seat.last_seq:
                    continue
                seat.last_seq = seq
            fresh.append(i)
        return fresh

    def send(self, message: dict[str, Any]) -> None:
        """Queue one message of our own (a reply, a notice)."""
        if self.close_code is None:
            self._put(Batch(self.encoding, [frames.encode_one(message, self.encoding)]), time.time())

    def _put(self, part: Batch, origin: float) -> None:
        if not self.outbox.put(part, origin):
            metrics.SLOW_CONSUMERS.inc()
            log.info("closing a slow connection of %s (backlog over %d bytes)",
                     self.user_id, self.outbox.cap_bytes)
            self.abort(CLOSE_TOO_SLOW, "too slow: outgoing backlog over the limit")
        elif self._writer is None and not self._marked and not self._held:
            self._schedule()

    def open(self) -> None:
        """Start writing what was queued (the `welcome` first): the node now routes our events."""
        self._held = False
        if len(self.outbox) and self._writer is None and not self._marked and self.close_code is None:
            self._schedule()

    def _schedule(self) -> None:
        if self._send_now is not None:
            self._marked = True
            self.flusher.mark(self)
        else:
            self._start_writer()

    def flush_now(self, now: float, loop_now: float) -> tuple[int, int, float]:
        """Write the outbox now, one frame per batch (the flusher): the messages and frames
        written, and when the oldest of them was published (`now` if none).

        What the socket cannot take now goes to a writer task, in order.
        """
        self._marked = False
        if self._writer is not None or self._send_now is None:
            return 0, 0, now  # a writer owns the sending side until the backlog is gone
        messages = written = 0
        oldest = now
        while len(self.outbox):
            items = self.outbox.take()
            if not items:
                break
            if len(items) == 1:
                wire = items[0][0].wire()  # the batch's own frame: shared with its other recipients
            else:
                wire = frames.frame(self._payload(items), self.encoding)
            if not self._send_now(wire):
                self._start_writer(items)
                break
            self.outbox.release(sum(len(p) for p, _ in items))
            oldest = min(oldest, items[0][1])
            messages += sum(p.count for p, _ in items)
            written += 1
        if written:
            self._last_sent = loop_now
        return messages, written, oldest

    def _payload(self, items: list[tuple[Batch, float]]) -> bytes:
        """One frame's payload holding every message of `items`."""
        return frames.join([part for batch, _ in items for part in batch.parts], self.encoding)

    def keepalive(self, loop_now: float) -> None:
        """Send a `ping` message if nothing went out for a heartbeat (the gateway's ticker)."""
        if self.close_code is None and loop_now - self._last_sent >= self.heartbeat and not len(self.outbox):
            self._last_sent = loop_now
            self.send({"type": "ping"})

    def finish_join(self, room: RoomId, epoch: Any, seq: int) -> None:
        """The join's reply is queued: release the events held back, minus what it covered."""
        seat = self.seats.get(room)
        if seat is None:
            return
        seat.epoch, seat.last_seq = epoch, seq
        held, seat.pending, seat.held_bytes = seat.pending or [], None, 0
        for batch, origin in held:
            self.deliver(room, batch, origin)

    # -- closing -------------------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued has been written (a notice before a ban's 4003)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.session.close(code, reason)
        self._flush_then_close = (code, reason)
        self.outbox.wake.set()
        self._start_writer()

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
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            try:
                await writer
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopped: whatever it raised
                pass
        await self._send_close(code, reason)

    async def _send_close(self, code: int, reason: str) -> None:
        metrics.CLOSES.labels(str(code)).inc()
        try:
            await asyncio.wait_for(self.ws.close(code, reason[:120]), CLOSE_TIMEOUT)
        except Exception:  # noqa: BLE001 - the peer may be gone already
            pass
        finally:
            self._closing_event().set()
            # The close is sent (or the peer is beyond reach): stop reading, whatever it sends.
            if self._reading and self._main is not None and self._main is not asyncio.current_task():
                self._reader_stopped = True
                self._main.cancel()

    def _closing_event(self) -> asyncio.Event:
        """Set once our close frame went out (or could not); made on first use."""
        if self._closed is None:
            self._closed = asyncio.Event()
        return self._closed

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes, in the calling task (which reads); its `welcome`
        is already queued."""
        main = asyncio.current_task()
        assert main is not None  # served in a task: the one that reads
        self._main = main
        self._last_sent = asyncio.get_running_loop().time()
        try:
            self._reading = True
            try:
                await self._read()
            except asyncio.CancelledError:
                if not self._reader_stopped:
                    raise
                main.uncancel()  # our own stop (the close went out): not a cancellation
            except Exception as exc:
                log.error("connection of %s failed", self.user_id, exc_info=exc)
                self.close(CLOSE_SERVER_ERROR, "server error")
            finally:
                self._reading = False
            closed = self._closing_event()
            if self.close_code is not None and not closed.is_set():
                # Our close (4009, 4029, 4003, 1011...) goes out once the writer has flushed.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), CLOSE_TIMEOUT + 1)
        finally:
            tasks = [t for t in (self._writer, *self._side_tasks) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

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
            elif isinstance(effect, Limited):
                metrics.LIMITED.labels(effect.limit).inc()
            elif isinstance(effect, Request):
                metrics.MESSAGES_IN.labels(effect.type).inc()
                if effect.type in CONCURRENT_TYPES:
                    task = asyncio.create_task(self._perform(effect))
                    self._side_tasks.add(task)
                    task.add_done_callback(self._side_tasks.discard)
                else:
                    await self._perform(effect)

    async def _perform(self, request: Request) -> None:
        effects = await self.perform(self, request)
        await self.apply(effects)
        if request.type == "room.join" and request.room is not None:
            seat = self.seats.get(request.room)
            if seat is not None and seat.pending is not None and seat.ready:
                self.finish_join(request.room, seat.epoch, seat.last_seq)

    def _start_writer(self, first: list[tuple[Batch, float]] | None = None) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(first), name="ws-writer")

    async def _write(self, first: list[tuple[Batch, float]] | None) -> None:
        """Write the backlog frame by frame, awaiting the socket; then the close, if one is due.

        With the synchronous write it ends once the outbox is empty (deliveries go back to the
        flusher); without, it waits for the next message and runs as long as the connection.
        """
        items = first
        try:
            while True:
                if items is None:
                    if not len(self.outbox):
                        if self._flush_then_close is not None:
                            await self._send_close(*self._flush_then_close)
                            return
                        if self._send_now is not None:
                            return
                        self.outbox.wake.clear()
                        await self.outbox.wake.wait()
                        continue
                    items = self.outbox.take()
                    if not items:
                        items = None
                        continue
                await self._write_frame(items)
                items = None
        except Exception as exc:  # noqa: BLE001 - the peer is gone: the reader sees it too
            log.debug("writing to %s failed: %s", self.user_id, exc)
            self.outbox.clear()
            self._closing_event().set()
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None

    async def _write_frame(self, items: list[tuple[Batch, float]]) -> None:
        size = sum(len(p) for p, _ in items)
        payload = self._payload(items)
        if self.encoding.binary:
            await self.ws.send({"type": "websocket.send", "bytes": payload})
        else:  # ASGI carries a text frame as str: the one decode, on this slow path only
            await self.ws.send({"type": "websocket.send", "text": payload.decode()})
        self.outbox.release(size)
        now = time.time()
        metrics.FANOUT_LAG.observe(max(0.0, now - items[0][1]))
        metrics.MESSAGES_OUT.inc(sum(p.count for p, _ in items))
        metrics.FRAMES_OUT.inc()
        self._last_sent = asyncio.get_running_loop().time()
