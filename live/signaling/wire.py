"""Synchronous frame writes for fan-out: the `live.send_now` ASGI extension.

ASGI's `send` is a coroutine, so a server that writes each room event through it pays, per
recipient, a task switch (the connection's writer wakes up) and several awaits before the bytes
reach the socket. For fan-out that cost is most of the work: profiles of a 1,000-member room
showed the writer wake-up and the ASGI layers above the socket write taking more time than the
write itself.

`LiveWebSocketProtocol` is uvicorn's sans-I/O WebSocket protocol plus one method, offered to the
app as the ASGI extension `scope["extensions"]["live.send_now"]`: write one whole frame now, as
the bytes given (header and payload, from `live.frames`: a frame built once for a room's batch
is written as the same bytes to every socket), without awaiting, if the socket can take it (the
transport is not paused for backpressure, the connection is open and has no extension that
would change the frame, such as compression); else return False and change nothing, and the
caller goes the ASGI way (awaiting `send`, which waits for the transport to drain). Under any
other server the extension is absent and connections use their writer task for every frame;
behaviour is the same, only slower.

`live serve` selects this protocol (`uvicorn_ws_options`); running the app under plain
`uvicorn --factory live.app:app_from_env` works too, without the fast path.

The protocol also holds the limits only the transport can see (docs/security.md):

- Control frames (ping, pong) and the fragments of an unfinished message never reach the app, so
  the session's flood limit cannot count them: a token bucket here does (`LIVE_WS_CONTROL_RATE`,
  `LIVE_WS_CONTROL_BURST`), and closes a flooding client with 4029.
- Every ping is answered with a pong written straight to the socket; a client that pings and
  never reads would have them pile up without bound. Pongs count against the connection's send
  queue (`LIVE_SEND_QUEUE_BYTES`): past it the client is too slow, 4008.
- The connection's place in the per-address table (`live.http.addresses`), handed over by the
  HTTP protocol at the upgrade, is released when the socket closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.protocol import State

from live.metrics import refused

if TYPE_CHECKING:
    from live.http.addresses import AddressSlot

EXTENSION = "live.send_now"

SendNow = Callable[[bytes], bool]

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - an older uvicorn: no fast path
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]


# Close codes of the contract (the same values as live.signaling.session's).
CLOSE_TOO_SLOW = 4008
CLOSE_FLOODING = 4029


@dataclasses.dataclass(frozen=True)
class WsLimits:
    """The transport limits of every WebSocket of a server (from the settings)."""

    control_rate: float = 10.0
    control_burst: int = 50
    send_queue_bytes: int = 1 << 20


def send_now_of(scope: Any) -> SendNow | None:
    """The connection's synchronous writer, when the server offers one."""
    extensions = scope.get("extensions") or {}
    found = extensions.get(EXTENSION)
    return found if callable(found) else None


class Inbox:
    """The protocol's queue of received events, as small as a queue can be.

    The protocol only ever puts without waiting and has one reader (the connection's task); an
    `asyncio.Queue` (three deques, over 2 KB) per connection is more than that needs.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


if WebSocketsSansIOProtocol is not None:

    class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
        """uvicorn's sans-I/O WebSocket protocol with the `live.send_now` extension, holding less
        per connection (a small inbox; the handshake dropped once done)."""

        def __init__(self, *args: Any, limits: WsLimits | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.queue = Inbox()  # type: ignore[assignment]
            self.limits = limits or WsLimits()
            self.control_tokens = float(self.limits.control_burst)
            self.control_stamp = self.loop.time()
            self.slot: AddressSlot | None = None
            self.abort_timer: asyncio.TimerHandle | None = None

        def adopt_slot(self, slot: AddressSlot) -> None:
            """Hold the connection's place in the per-address table until the socket closes."""
            self.slot = slot

        def connection_lost(self, exc: Exception | None) -> None:
            if self.slot is not None:
                self.slot.release()
                self.slot = None
            if self.abort_timer is not None:
                self.abort_timer.cancel()
                self.abort_timer = None
            super().connection_lost(exc)

        # -- control frames and fragments: counted, and pongs bounded --------------------------

        def handle_ping(self) -> None:
            if not self._spend_control():
                return
            if self.transport.get_write_buffer_size() > self.limits.send_queue_bytes:
                # Pongs (the one queued now included) wait behind what the client has not read.
                self._refuse(CLOSE_TOO_SLOW, "too slow: outgoing backlog over the limit", "ws_send_queue")
                return
            super().handle_ping()

        def handle_pong(self, event: Any) -> None:
            if self._spend_control():
                super().handle_pong(event)

        def handle_text(self, event: Any) -> None:
            if event.fin or self._spend_control():
                super().handle_text(event)

        def handle_bytes(self, event: Any) -> None:
            if event.fin or self._spend_control():
                super().handle_bytes(event)

        def handle_cont(self, event: Any) -> None:
            if event.fin or self._spend_control():
                super().handle_cont(event)

        def _spend_control(self) -> bool:
            """Take one token for a frame the app never sees; False (and 4029) when none is left."""
            if self.close_sent:
                return False
            now = self.loop.time()
            limits = self.limits
            refilled = self.control_tokens + (now - self.control_stamp) * limits.control_rate
            tokens = min(float(limits.control_burst), refilled)
            self.control_stamp = now
            if tokens < 1.0:
                self.control_tokens = tokens
                self._refuse(CLOSE_FLOODING, "flooding: too many control frames", "ws_control_frames")
                return False
            self.control_tokens = tokens - 1.0
            return True

        def _refuse(self, code: int, reason: str, limit: str) -> None:
            """Close with `code` now; the app hears the disconnect at once."""
            refused(limit)
            if self.close_sent or self.transport.is_closing():
                return
            self.stop_keepalive()
            # fail(): the close frame goes out and every byte the client sends from now on is
            # discarded unparsed (no pong is queued for a ping that arrives after this).
            self.conn.fail(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
            # Half-close and keep reading until the client closes: closing with its frames
            # unread would reset the connection, and the client would never see the code.
            if self.transport.can_write_eof():
                self.transport.write_eof()
            if self.read_paused:
                self.read_paused = False
                self.transport.resume_reading()
            # A client that neither reads nor closes is cut off (close() would wait for the
            # buffer it never reads).
            self.abort_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

        async def run_asgi(self) -> None:
            # uvicorn types an extension as a dict; this one is the function itself (our own contract).
            self.scope["extensions"][EXTENSION] = self.send_now  # type: ignore[assignment]
            await super().run_asgi()

        async def send(self, message: Any) -> None:
            await super().send(message)
            if self.handshake_complete and getattr(self, "response", None) is not None:
                # The handshake's request and response, and the headers in the scope, are of no
                # more use once accepted (the gateway reads its token and subprotocol before):
                # not holding them for the connection's lifetime saves a few KB per connection.
                self.request = self.response = None  # type: ignore[assignment]  # gone once accepted
                self.scope["headers"] = []

        def send_now(self, frame: bytes) -> bool:
            """Write one whole data frame (header and payload) now if the socket can take it;
            False (nothing done) if not.

            What the protocol's own `websocket.send` checks, minus the wait for `writable`
            (callers fall back to that path when this returns False); the frame is written as
            given, so the connection must have no extension that rewrites frames.
            """
            conn = self.conn
            if (not self.handshake_complete or self.close_sent or self.disconnected
                    or self.initial_response is not None or not self.writable.is_set()
                    or self.transport.is_closing() or conn.state is not State.OPEN or conn.extensions):
                return False
            pending = conn.data_to_send()  # (nothing, normally: every call writes what it made)
            if pending:
                self.transport.write(b"".join(pending))
            self.transport.write(frame)
            return True

else:  # pragma: no cover
    LiveWebSocketProtocol = None  # type: ignore[assignment,misc]
