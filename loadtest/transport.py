"""A lean WebSocket client: websockets' sans-I/O protocol driven by a plain asyncio.Protocol.

The load generator holds thousands of connections and reads tens of thousands of frames a second
in one process, so the per-frame cost is what matters. The asyncio connection of `websockets`
queues every frame and wakes a task per `recv()`; here a frame is handed to a callback straight
from `data_received`, with the time the bytes arrived, and nothing else is scheduled. Pongs and
the closing handshake are the protocol object's business, as in any websockets client.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

# Called with (payload, arrival time from time.time()); payload is bytes for binary frames and
# str for text frames.
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
    ) -> None:
        self.uri = parse_uri(url)
        self.proto = ClientProtocol(
            self.uri,
            subprotocols=[Subprotocol(s) for s in subprotocols] or None,
            max_size=max_size,
        )
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.subprotocol: str | None = None
        self._open: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[tuple[int | None, str]] | None = None
        self._fragments: list[bytes] = []
        self._fragment_text = False

    async def connect(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        self._open = loop.create_future()
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
        proto = self.proto
        proto.receive_data(data)
        for event in proto.events_received():
            if isinstance(event, Response):
                self._handshake_done(event)
                continue
            opcode = event.opcode
            if opcode is Opcode.BINARY or opcode is Opcode.TEXT:
                if event.fin:
                    if opcode is Opcode.TEXT:
                        self.on_message(event.data.decode(), now)
                    else:
                        self.on_message(bytes(event.data), now)
                else:
                    self._fragment_text = opcode is Opcode.TEXT
                    self._fragments = [bytes(event.data)]
            elif opcode is Opcode.CONT:
                self._fragments.append(bytes(event.data))
                if event.fin:
                    payload = b"".join(self._fragments)
                    self._fragments = []
                    self.on_message(payload.decode() if self._fragment_text else payload, now)
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
        if self.transport is None or self.transport.is_closing():
            return
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
