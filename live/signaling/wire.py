"""Synchronous frame writes for fan-out: the `live.send_now` ASGI extension.

ASGI's `send` is a coroutine, so a server that writes each room event through it pays, per
recipient, a task switch (the connection's writer wakes up) and several awaits before the bytes
reach the socket. For fan-out that cost is most of the work: profiles of a 1,000-member room
showed the writer wake-up and the ASGI layers above the socket write taking more time than the
write itself.

`LiveWebSocketProtocol` is uvicorn's sans-I/O WebSocket protocol plus one method, offered to the
app as the ASGI extension `scope["extensions"]["live.send_now"]`: write one frame now, without
awaiting, if the socket can take it (the transport is not paused for backpressure and the
connection is open); else return False and change nothing, and the caller goes the ASGI way
(awaiting `send`, which waits for the transport to drain). Under any other server the extension is
absent and connections use their writer task for every frame; behaviour is the same, only slower.

`live serve` selects this protocol (`uvicorn_ws_options`); running the app under plain
`uvicorn --factory live.app:app_from_env` works too, without the fast path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

EXTENSION = "live.send_now"

SendNow = Callable[[bytes | str], bool]

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import (
        WebSocketsSansIOProtocol,
    )
except ImportError:  # pragma: no cover - an older uvicorn: no fast path
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]


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

    class LiveWebSocketProtocol(WebSocketsSansIOProtocol):  # type: ignore[misc,valid-type]
        """uvicorn's sans-I/O WebSocket protocol with the `live.send_now` extension, holding less
        per connection (a small inbox; the handshake dropped once done)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.queue = Inbox()  # type: ignore[assignment]

        async def run_asgi(self) -> None:
            self.scope["extensions"][EXTENSION] = self.send_now
            await super().run_asgi()

        async def send(self, message: Any) -> None:
            await super().send(message)
            if self.handshake_complete and getattr(self, "response", None) is not None:
                # The handshake's request and response, and the headers in the scope, are of no
                # more use once accepted (the gateway reads its token and subprotocol before):
                # not holding them for the connection's lifetime saves a few KB per connection.
                self.request = self.response = None
                self.scope["headers"] = []

        def send_now(self, frame: bytes | str) -> bool:
            """Write one data frame now if the socket can take it; False (nothing done) if not.

            The same steps as the protocol's own `websocket.send`, minus the wait for
            `writable`: callers fall back to that path when this returns False.
            """
            if (not self.handshake_complete or self.close_sent or self.disconnected
                    or self.initial_response is not None or not self.writable.is_set()
                    or self.transport.is_closing()):
                return False
            try:
                if isinstance(frame, bytes):
                    self.conn.send_binary(frame)
                else:
                    self.conn.send_text(frame.encode())
            except Exception:
                return False
            self.transport.write(b"".join(self.conn.data_to_send()))
            return True

else:  # pragma: no cover
    LiveWebSocketProtocol = None  # type: ignore[assignment,misc]
