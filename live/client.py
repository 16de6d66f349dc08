"""A small asyncio client of the `live` WebSocket protocol (tests and `loadtest/` use it).

    client = await LiveClient.connect("http://127.0.0.1:8080", token, encoding="msgpack")
    reply = await client.request("room.join", room="live:01H...")
    async for event in client.events():
        ...
    await client.close()

`request` sends a message with a fresh `ref` and returns the `ok` reply, or raises
`RequestFailed` (with `.code`, `.reply`) for an `error` reply. Every other server message is an
event, available in order from `events()` / `next_event()`. Batched frames are unpacked; the
server's `ping` messages are answered by nothing and not shown as events.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ENCODINGS = {"json": "live.v1.json", "msgpack": "live.v1.msgpack"}


class ClientError(Exception):
    """Root of the client's errors."""


class RequestFailed(ClientError):
    """The server answered a request with an `error` message."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(f"{reply.get('code')}: {reply.get('message')}")
        self.reply = reply
        self.code: str = reply.get("code", "")
        self.retry_after = reply.get("retry_after")
        self.until = reply.get("until")


class Closed(ClientError):
    """The connection closed (`code`, `reason` from the close frame; 1006 when none came)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}: {reason})")
        self.code = code
        self.reason = reason


def ws_url(base: str, token: str) -> str:
    """`/v1/ws?token=` on a server base URL (http(s):// or ws(s)://, with or without the path)."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/ws"):
        path += "/v1/ws"
    return f"{scheme}://{parts.netloc}{path}?{urlencode({'token': token})}"


class LiveClient:
    def __init__(self, ws: ClientConnection, encoding: str) -> None:
        self.ws = ws
        self.encoding = encoding
        self.welcome: dict[str, Any] = {}
        self._refs = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.frames = 0

    @classmethod
    async def connect(
        cls, url: str, token: str, encoding: str = "json", *, timeout: float = 10.0, **kwargs: Any
    ) -> LiveClient:
        """Connect and wait for `welcome`; raises `Closed` if the server closes first (4001)."""
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}")
        ws = await connect(
            ws_url(url, token), subprotocols=[ENCODINGS[encoding]],  # type: ignore[list-item]
            open_timeout=timeout, max_size=None, compression=None, **kwargs,
        )
        client = cls(ws, encoding)
        client._reader = asyncio.create_task(client._read())
        first = await client._events.get()
        if first is None or first.get("type") != "welcome":
            await client.close()
            raise Closed(client.close_code, client.close_reason)
        client.welcome = first
        return client

    # -- sending

    def _encode(self, message: dict[str, Any]) -> bytes | str:
        if self.encoding == "msgpack":
            return cast(bytes, msgpack.packb(message, use_bin_type=True))  # msgpack is untyped
        return json.dumps(message)

    async def send(self, message: dict[str, Any]) -> None:
        """Send a raw message (no ref bookkeeping)."""
        await self.ws.send(self._encode(message))

    async def request(self, type: str, *, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send `{type, ref, **fields}` and return the ok reply (raise `RequestFailed`)."""
        ref = next(self._refs)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = fut
        try:
            await self.send({"type": type, "ref": ref, **fields})
            reply = await asyncio.wait_for(fut, timeout)
        except ConnectionClosed:
            raise Closed(self.close_code, self.close_reason) from None
        finally:
            self._pending.pop(ref, None)
        if reply.get("type") == "error":
            raise RequestFailed(reply)
        return reply

    # -- receiving

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self.frames += 1
                if isinstance(frame, bytes):
                    value = msgpack.unpackb(frame, raw=False)
                else:
                    value = json.loads(frame)
                for message in value if isinstance(value, list) else [value]:
                    self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd is not None else 1006
            self.close_reason = rcvd.reason if rcvd is not None else ""
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(Closed(self.close_code, self.close_reason))
            self._events.put_nowait(None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        ref = message.get("ref")
        if kind in ("ok", "error") and ref in self._pending:
            fut = self._pending[ref]
            if not fut.done():
                fut.set_result(message)
            return
        if kind == "ping":
            return
        self._events.put_nowait(message)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every event in order, until the connection closes."""
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # later callers see the end too
                return
            yield event

    async def next_event(self, type: str | None = None, *, timeout: float = 10.0,
                         room: str | None = None) -> dict[str, Any]:
        """The next event (of `type` / in `room`, skipping others); raises `Closed` at the end."""

        async def find() -> dict[str, Any]:
            async for event in self.events():
                if (type is None or event.get("type") == type) and (
                    room is None or event.get("room") == room
                ):
                    return event
            raise Closed(self.close_code, self.close_reason)

        return await asyncio.wait_for(find(), timeout)

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close; the close code."""
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()

    async def __aenter__(self) -> LiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
