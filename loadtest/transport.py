"""A lean WebSocket client: websockets' sans-I/O protocol driven by a plain asyncio.Protocol.

The load generator holds thousands of connections and reads tens of thousands of frames a second
in one process, so the per-frame cost is what matters. The asyncio connection of `websockets`
queues every frame and wakes a task per `recv()`; here a frame is handed to a callback straight
from `data_received`, with the time the bytes arrived, and nothing else is scheduled.

The protocol object builds the request, checks the response (accept key, subprotocol) and owns
every control frame (pongs, the closing handshake) and everything we send. Data frames from the
server, which are never masked, are cut out of the byte stream here (a few microseconds each,
about a third of what the generic parser costs); control frames are handed to the protocol
object whole, so its parser always stands at a frame boundary.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from collections.abc import Callable, Sequence

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

# Called with (payload, arrival time from time.time()); payload is bytes for binary frames and
# str for text frames (bytes too with `text_as_bytes`, for a caller that may not need to decode).
OnMessage = Callable[[bytes | str, float], None]


class HandshakeFailed(Exception):
    """The server refused the WebSocket upgrade (status) or the connection could not be made."""


class WsClient(asyncio.Protocol):
    def __init__(
        self,
        url: str,
        on_message: OnMessage,
        *,
        subprotocols: Sequence[str] = (),
        max_size: int | None = 16 << 20,
        text_as_bytes: bool = False,
    ) -> None:
        self.uri = parse_uri(url)
        self.proto = ClientProtocol(
            self.uri,
            subprotocols=[Subprotocol(s) for s in subprotocols] or None,
            max_size=max_size,
        )
        self.on_message = on_message
        self.text_as_bytes = text_as_bytes
        self.transport: asyncio.Transport | None = None
        self.subprotocol: str | None = None
        self._open: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[tuple[int | None, str]] | None = None
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._buffer = b""
        self._upgraded = False  # past the HTTP response: bytes are frames

    async def connect(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        self._open = loop.create_future()
        # Read the outcome even when nobody waits any more (a timed-out handshake).
        self._open.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.closed = loop.create_future()
        ctx = ssl.create_default_context() if self.uri.secure else None
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: self, self.uri.host, self.uri.port, ssl=ctx), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise HandshakeFailed(f"connect: {type(exc).__name__}: {exc}") from None
        request = self.proto.connect()
        self.proto.send_request(request)
        self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self._open), timeout)
        except TimeoutError:
            self.abort()
            raise HandshakeFailed("handshake timed out") from None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self._upgraded:
            self._frames(self._buffer + data if self._buffer else data, now)
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head, rest = self._buffer[: end + 4], self._buffer[end + 4 :]
        self._buffer = b""
        self.proto.receive_data(head)
        for event in self.proto.events_received():
            if isinstance(event, Response):
                self._handshake_done(event)
        self._flush()
        if self._open is not None and self._open.done() and self._open.exception() is None:
            self._upgraded = True
            if rest:
                self._frames(rest, now)

    def _frames(self, data: bytes, now: float) -> None:
        """Cut complete frames out of `data`; keep the incomplete tail for the next read."""
        pos, size = 0, len(data)
        on_message = self.on_message
        raw_text = self.text_as_bytes
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = struct.unpack_from(">H", data, pos + 2)[0]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = struct.unpack_from(">Q", data, pos + 2)[0]
                head = 10
            if b1 & 0x80:
                head += 4  # a masked server frame is a protocol error: let websockets say so
            end = pos + head + length
            if end > size:
                break
            opcode = b0 & 0x0F
            if b1 & 0x80 or opcode >= 8:
                self._control(data[pos:end])
            elif opcode == 2 and b0 & 0x80:
                on_message(data[pos + head : end], now)
            elif opcode == 1 and b0 & 0x80:
                on_message(data[pos + head : end] if raw_text else data[pos + head : end].decode(), now)
            elif opcode in (1, 2):
                self._fragment_text = opcode == 1
                self._fragments = [data[pos + head : end]]
            elif opcode == 0:
                self._fragments.append(data[pos + head : end])
                if b0 & 0x80:
                    payload = b"".join(self._fragments)
                    self._fragments = []
                    on_message(payload.decode() if self._fragment_text and not raw_text else payload, now)
            pos = end
        self._buffer = data[pos:] if pos < size else b""

    def _control(self, frame: bytes) -> None:
        self.proto.receive_data(frame)
        self.proto.events_received()
        self._flush()

    def eof_received(self) -> bool | None:
        self.proto.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._open is not None and not self._open.done():
            self._open.set_exception(HandshakeFailed(f"connection lost during handshake: {exc}"))
        if self.closed is not None and not self.closed.done():
            self.closed.set_result((self.proto.close_code, self.proto.close_reason or ""))

    # -- sending

    def send(self, payload: bytes | str) -> None:
        if self.transport is None or self.transport.is_closing() or self.proto.state is not State.OPEN:
            return  # closing (a Socket.IO ping answered as our close goes out): nothing more is sent
        if isinstance(payload, str):
            self.proto.send_text(payload.encode())
        else:
            self.proto.send_binary(payload)
        self._flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.proto.send_close(code, reason)
        except Exception:  # noqa: BLE001 - already closing
            pass
        self._flush()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and bool(
            self._open and self._open.done() and not self._open.exception()
        )

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        chunks = self.proto.data_to_send()
        if chunks:
            data = b"".join(chunks)
            if data:
                transport.write(data)
            elif chunks[-1] == b"" and transport.can_write_eof():
                transport.write_eof()
        if self.proto.close_expected() and not transport.is_closing():
            # The closing handshake is done on our side: let the server close the TCP
            # connection, but never wait for it for long.
            asyncio.get_running_loop().call_later(2.0, transport.abort)

    def _handshake_done(self, response: Response) -> None:
        assert self._open is not None
        if self._open.done():
            return
        exc = self.proto.handshake_exc
        if exc is not None:
            if isinstance(exc, InvalidStatus):
                detail = f"HTTP {exc.response.status_code}"
            elif isinstance(exc, InvalidHandshake):
                detail = str(exc)
            else:
                detail = repr(exc)
            self._open.set_exception(HandshakeFailed(f"upgrade refused: {detail}"))
            return
        self.subprotocol = response.headers.get("Sec-WebSocket-Protocol")
        self._open.set_result(None)
