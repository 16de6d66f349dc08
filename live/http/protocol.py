"""The HTTP/1.1 connection with limits at the door: uvicorn's httptools protocol, bounded.

uvicorn's httptools protocol has no limit on a request's head (httptools keeps a header line in
memory until it ends, so a line that never ends grows without bound), no timer on a connection
that never sends a request, none while a head or a body trickles in, and none while a client does
not read its response. `LiveHttpProtocol` adds, per connection:

| limit | setting | answer |
|---|---|---|
| request target length | LIVE_MAX_URL_BYTES | 414 `invalid_request` |
| head size (line + headers), header count | LIVE_MAX_HEADER_BYTES, LIVE_MAX_HEADERS | 431 `invalid_request` |
| silence before a request (new or kept-alive connection) | LIVE_KEEPALIVE_TIMEOUT_SECONDS | closed |
| head not whole in time | LIVE_HEADER_TIMEOUT_SECONDS | 408 `invalid_request` |
| body not whole in time | LIVE_BODY_TIMEOUT_SECONDS | 408 `invalid_request` (the app sees a disconnect) |
| response not read | LIVE_WRITE_TIMEOUT_SECONDS | connection dropped |
| open connections per client address | LIVE_MAX_CONNECTIONS_PER_ADDRESS | 429 `rate_limited` |
| not HTTP/1.1 | | 400 `invalid_request` |

Each answer is the contract's JSON error body with `Connection: close`, and each refusal counts
in `live_limit_refusals_total{limit}`. A connection upgraded to a WebSocket hands its place in
the per-address table to the WebSocket protocol (`live.signaling.wire`), which keeps it until the
socket closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from live.errors import ApiError, ErrorCode
from live.http.addresses import UNCOUNTED, AddressSlot, AddressTable, TrustedProxies
from live.metrics import refused
from live.signaling.wire import LiveWebSocketProtocol

if TYPE_CHECKING:
    from live.config import Settings

log = logging.getLogger("live.http.protocol")

# Bytes of a head besides the target and the headers: "METHOD ", " HTTP/1.1\r\n", the blank line.
_HEAD_OVERHEAD = 32
# An address over its cap is told to come back after this many seconds.
RETRY_AFTER_SECONDS = 5


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """The limits of every HTTP connection of a server (from the settings)."""

    max_url_bytes: int = 8192
    max_header_bytes: int = 16384
    max_headers: int = 100
    keepalive_timeout: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    write_timeout: float = 60.0

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_url_bytes=settings.max_url_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            keepalive_timeout=settings.keepalive_timeout_seconds,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            write_timeout=settings.write_timeout_seconds,
        )


def address_table(settings: Settings) -> AddressTable:
    """The per-address connection table of one server process."""
    return AddressTable(settings.max_connections_per_address, TrustedProxies(settings.forwarded_allow_ips))


class Phase:
    """Where the client is in its current request (what the connection's one timer waits for)."""

    IDLE = "idle"  # no request begun: the keep-alive timer runs
    HEAD = "head"  # request line and headers arriving: the header timer runs
    BODY = "body"  # body arriving: the body timer runs
    WAIT = "wait"  # request whole, the app answering: no timer on the client
    DONE = "done"  # refused, timed out or upgraded: nothing more is read


class LiveHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol with the limits above (given by `live serve`)."""

    def __init__(self, *args: Any, limits: HttpLimits, addresses: AddressTable, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.addresses = addresses
        self.slot: AddressSlot | None = UNCOUNTED  # None: this address is over its cap
        self.phase = Phase.IDLE
        self.served = False  # at least one request began (a silent new connection is worth counting)
        self.head_bytes = 0
        self.header_count = 0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0  # when `timer` fires
        self.deadline = 0.0  # when the phase's limit is reached
        self.expired: Any = None  # what to call then (None: no limit runs)
        self.write_timer: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        self.slot = self.addresses.acquire(self.client[0] if self.client else None)
        self._arm(self.limits.keepalive_timeout, self._idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._drop_timer()
        self._cancel_write_timer()
        if self.slot is not None:
            self.slot.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # The base's, with a refused connection reading nothing more and bad requests answered
        # in JSON without a warning per request (a client can send as many as it likes).
        if self.phase is Phase.DONE:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self.phase is not Phase.DONE:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    # Another protocol (h2c, say): the request is answered as plain HTTP.
                    log.debug("ignoring an upgrade to %r from %s", self._get_upgrade(), self._peer())
            return
        except httptools.HttpParserError:
            self.send_400_response("the request is not valid HTTP/1.1")
            return
        if self.phase is Phase.HEAD:
            # httptools holds an unfinished header line in memory: bound what a head may take
            # while it streams in (the exact size is checked once it is whole).
            self.head_bytes += len(data)
            if self.head_bytes > self.limits.max_header_bytes:
                self._refuse(431, "header_bytes", f"the request head is over {self.limits.max_header_bytes} bytes")

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "bad_request", msg)

    def handle_websocket_upgrade(self) -> None:
        self._drop_timer()
        self.phase = Phase.DONE
        super().handle_websocket_upgrade()
        protocol = self.transport.get_protocol()
        slot, self.slot = self.slot, UNCOUNTED
        if isinstance(protocol, LiveWebSocketProtocol) and slot is not None:
            protocol.adopt_slot(slot)  # the WebSocket holds the address's place until it closes
        elif slot is not None:
            slot.release()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The base arms its own keep-alive timer, which any byte cancels (a client sending a
        # CRLF now and then would be kept forever); ours runs until a request begins.
        self._unset_keepalive_if_required()
        if self.phase is Phase.WAIT and self.cycle.response_complete and not self.transport.is_closing():
            self.phase = Phase.IDLE
            self._arm(self.limits.keepalive_timeout, self._idle_timeout)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.write_timer is None:
            self.write_timer = self.loop.call_later(self.limits.write_timeout, self._write_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_write_timer()

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.phase is Phase.DONE:
            return
        super().on_message_begin()
        self.phase = Phase.HEAD
        self.served = True
        self.head_bytes = self.header_count = 0
        self._arm(self.limits.header_timeout, self._header_timeout)

    def on_url(self, url: bytes) -> None:
        if self.phase is Phase.DONE:
            return
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes:
            self._refuse(414, "url_bytes", f"the request target is over {self.limits.max_url_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.phase is Phase.DONE:
            return
        self.header_count += 1
        if self.header_count > self.limits.max_headers:
            self._refuse(431, "header_count", f"the request has over {self.limits.max_headers} headers")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.phase is Phase.DONE:
            return
        size = _HEAD_OVERHEAD + len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse(431, "header_bytes", f"the request head is over {self.limits.max_header_bytes} bytes")
            return
        if self.slot is None:
            self._refuse(429, "connections_per_address", "too many open connections from this address",
                         code=ErrorCode.RATE_LIMITED, retry_after=RETRY_AFTER_SECONDS)
            return
        self.phase = Phase.BODY
        self._arm(self.limits.body_timeout, self._body_timeout)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.phase is not Phase.DONE:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.phase is Phase.DONE:
            return
        self._disarm()
        self.phase = Phase.WAIT
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete and not self.transport.is_closing():
            # Answered before its body was whole (a 401, a 413): the wait for the next request
            # starts now.
            self.phase = Phase.IDLE
            self._arm(self.limits.keepalive_timeout, self._idle_timeout)

    # -- timers --------------------------------------------------------------------------------

    # One lazy timer per connection: a request moves the deadline three times (head, body,
    # keep-alive), and moving a number is cheaper than cancelling and scheduling a timer handle
    # each time. The handle fires at the deadline it was set for; if the deadline moved later, it
    # sets itself again; if it moved earlier, it is replaced.

    def _arm(self, delay: float, callback: Any) -> None:
        deadline = self.loop.time() + delay
        self.deadline, self.expired = deadline, callback
        if self.timer is None or self.timer_at > deadline:
            if self.timer is not None:
                self.timer.cancel()
            self.timer, self.timer_at = self.loop.call_at(deadline, self._fire), deadline

    def _disarm(self) -> None:
        self.expired = None  # the handle, if it fires, finds nothing to do

    def _drop_timer(self) -> None:
        self.expired = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _fire(self) -> None:
        self.timer = None
        callback = self.expired
        if callback is None:
            return
        if self.loop.time() < self.deadline:
            self.timer, self.timer_at = self.loop.call_at(self.deadline, self._fire), self.deadline
            return
        self.expired = None
        callback()

    def _cancel_write_timer(self) -> None:
        if self.write_timer is not None:
            self.write_timer.cancel()
            self.write_timer = None

    def _idle_timeout(self) -> None:
        if self.phase is not Phase.IDLE or self.transport.is_closing():
            return
        if not self.served:
            refused("keepalive_timeout")  # a connection that never asked anything
        self.phase = Phase.DONE
        self.transport.close()

    def _header_timeout(self) -> None:
        if self.phase is Phase.HEAD:
            self._refuse(408, "header_timeout",
                         f"the request head did not arrive within {self.limits.header_timeout:g} s")

    def _body_timeout(self) -> None:
        if self.phase is not Phase.BODY or self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The app has not taken what arrived yet (reading is paused for it): not the
            # client's delay. Look again later.
            self._arm(self.limits.body_timeout, self._body_timeout)
            return
        cycle = self.cycle
        self._refuse(408, "body_timeout", f"the request body did not arrive within {self.limits.body_timeout:g} s",
                     write=not cycle.response_started)
        if not cycle.response_complete:
            # The app, waiting for the rest of the body, sees the client leave; what it answers
            # is not written (ours stands).
            cycle.disconnected = True
            cycle.message_event.set()

    def _write_timeout(self) -> None:
        self.write_timer = None  # still paused, or resume_writing would have cancelled us
        refused("write_timeout")
        log.debug("dropping a connection from %s that stopped reading its response", self._peer())
        self._disarm()
        self.phase = Phase.DONE
        self.transport.abort()  # close() would wait for the buffer the client never reads

    # -- refusing ------------------------------------------------------------------------------

    def _refuse(self, status: int, limit: str, message: str, *, code: ErrorCode = ErrorCode.INVALID_REQUEST,
                retry_after: float | None = None, write: bool | None = None) -> None:
        """Answer `status` with the contract's error body, then close; read nothing more.

        `write` None: answer unless a response to an earlier (pipelined) request is under way,
        which an answer now would cut into.
        """
        if self.phase is Phase.DONE:
            return
        self.phase = Phase.DONE
        self._disarm()
        refused(limit)
        log.debug("refused %s (%s): %s", self._peer(), limit, message)
        if self.transport.is_closing():
            return
        if write is None:
            write = self.cycle is None or self.cycle.response_complete
        if write:
            error = ApiError(code, message, status=status, retry_after=retry_after)
            body = json.dumps({"error": error.to_dict()}).encode()
            head = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                head += [name, b": ", value, b"\r\n"]
            head.append(b"content-type: application/json\r\n")
            head.append(b"content-length: %d\r\n" % len(body))
            if retry_after is not None:
                head.append(b"retry-after: %d\r\n" % int(retry_after))
            head.append(b"connection: close\r\n\r\n")
            self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _peer(self) -> str:
        return self.client[0] if self.client else "?"
