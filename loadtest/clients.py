"""Protocol clients the scenarios drive: `live` (the contract's WebSocket protocol) and a
Socket.IO client for the peer servers, over the same lean transport so that every target costs the
generator about the same per frame.

Both expose one small surface: `connect()`, `join(room) -> latest seq`, `leave(room)`,
`send_chat(room, text, nonce, on_reply)`, `close()`, and call `on_chats(chats, arrived)` with the
chat messages of every frame received. Replies to chat sends go to a callback rather than a
future: senders never wait for their ack, exactly like a real chat client.

Every member of a room receives the same frames, byte for byte, so a generator process decodes each
distinct frame once (`FrameCache`) and its members only account what it holds: the generator's cost
per delivery is a dictionary lookup and a few comparisons rather than a decode, which keeps it from
being what limits a run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import msgpack

from loadtest.transport import HandshakeFailed, WsClient

# A chat message as the generator accounts it: (room, seq, the time it was meant to be sent or
# -1.0 when its text does not say, the tag of the step that sent it or -1).
Chat = tuple[str, int, float, int]
Chats = tuple[Chat, ...]
OnChats = Callable[[Chats, float], None]
# (error code or None for ok, the reply's seq or None, arrival time)
OnReply = Callable[[str | None, int | None, float], None]

MSGPACK = "live.v1.msgpack"
JSON = "live.v1.json"


def chat_text(due: float, tag: int, member: int, n: int, pad: str) -> str:
    """The text of a generated chat message: it starts with the time it was *meant* to be sent and
    the step's tag, so that every receiver measures latency from the schedule (a generator that
    falls behind shows as latency instead of hiding it) and counts it for its step."""
    return f"{due:.6f}|{tag}|{member}|{n}|{pad}"


def text_stamp(text: str) -> tuple[float, int]:
    """(meant-to-be-sent time, tag) from a text made by `chat_text`; (-1.0, -1) for any other."""
    parts = text.split("|", 2)
    try:
        return float(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return -1.0, -1


class FrameCache:
    """Decoded frames by their bytes, for the generator's members of one process: a room's
    members receive the same frame, which is then decoded once instead of once per member.

    A frame maps to (its chat messages, its other messages). Frames that only one member gets (its
    acks) pass through too and age out: the oldest entry goes once `size` are held."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.frames: dict[bytes, tuple[Chats, tuple[dict[str, Any], ...]]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, payload: bytes, decode: Callable[[bytes], tuple[Chats, tuple[dict[str, Any], ...]]]
            ) -> tuple[Chats, tuple[dict[str, Any], ...]]:
        item = self.frames.get(payload)
        if item is not None:
            self.hits += 1
            return item
        self.misses += 1
        item = decode(payload)
        frames = self.frames
        if len(frames) >= self.size:
            del frames[next(iter(frames))]
        frames[payload] = item
        return item


FRAMES = FrameCache()  # one per generator process, shared by its clients


def _split_live(messages: Any) -> tuple[Chats, tuple[dict[str, Any], ...]]:
    chats: list[Chat] = []
    others: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list) else (messages,):
        if message.get("type") == "chat.message":
            sent, tag = text_stamp(message["text"])
            chats.append((message["room"], message["seq"], sent, tag))
        else:
            others.append(message)
    return tuple(chats), tuple(others)


def _decode_msgpack(payload: bytes) -> tuple[Chats, tuple[dict[str, Any], ...]]:
    return _split_live(msgpack.unpackb(payload, raw=False))


def _decode_json(payload: bytes) -> tuple[Chats, tuple[dict[str, Any], ...]]:
    return _split_live(json.loads(payload))


class RequestFailed(Exception):
    """The server answered a request with an error (code) or the connection went away."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


def ws_url(base: str, path: str, query: str) -> str:
    """`http(s)://host:port[/prefix]` (or ws(s)://) -> `ws(s)://host:port[/prefix]{path}?{query}`."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not an http(s) or ws(s) URL: {base!r}")
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/v1/ws"):
        prefix = prefix[: -len("/v1/ws")]
    return urlunsplit((scheme, parts.netloc, prefix + path, query, ""))


class LiveClient:
    """One connection speaking the `live` WebSocket protocol (MessagePack or JSON)."""

    def __init__(self, base_url: str, token: str, on_chats: OnChats, *, encoding: str = "msgpack",
                 frames: FrameCache = FRAMES) -> None:
        if encoding not in ("msgpack", "json"):
            raise ValueError("encoding must be msgpack or json")
        self.binary = encoding == "msgpack"
        url = ws_url(base_url, "/v1/ws", "token=" + quote(token, safe=""))
        self.ws = WsClient(url, self._on_frame, subprotocols=[MSGPACK if self.binary else JSON],
                           text_as_bytes=True)
        self.on_chats = on_chats
        self.frames = frames
        self._decode = _decode_msgpack if self.binary else _decode_json
        self._refs = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._callbacks: dict[int, OnReply] = {}
        self._welcome: asyncio.Future[dict[str, Any]] | None = None
        self.resyncs = 0

    async def connect(self, timeout: float = 10.0) -> dict[str, Any]:
        self._welcome = asyncio.get_running_loop().create_future()
        await self.ws.connect(timeout)
        assert self.ws.closed is not None
        done, _ = await asyncio.wait({self._welcome, self.ws.closed}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._welcome in done:
            return self._welcome.result()
        self.ws.abort()
        if self.ws.closed in done:
            code, reason = self.ws.closed.result()
            raise HandshakeFailed(f"closed {code} {reason}".strip())
        raise HandshakeFailed("no welcome")

    @property
    def closed(self) -> asyncio.Future[tuple[int | None, str]]:
        assert self.ws.closed is not None
        return self.ws.closed

    def _send(self, message: dict[str, Any]) -> None:
        if self.binary:
            self.ws.send(msgpack.packb(message, use_bin_type=True))
        else:
            self.ws.send(json.dumps(message, separators=(",", ":")))

    async def request(self, message: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
        ref = next(self._refs)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = future
        message["ref"] = ref
        self._send(message)
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise RequestFailed("timeout", f"no reply to {message['type']} in {timeout:g}s") from None
        finally:
            self._waiting.pop(ref, None)
        if reply.get("type") == "error":
            raise RequestFailed(str(reply.get("code")), str(reply.get("message") or ""))
        return reply

    async def join(self, room: str) -> int:
        reply = await self.request({"type": "room.join", "room": room})
        return int(reply.get("seq") or 0)

    async def leave(self, room: str) -> None:
        await self.request({"type": "room.leave", "room": room})

    def send_chat(self, room: str, text: str, nonce: str, on_reply: OnReply) -> None:
        ref = next(self._refs)
        self._callbacks[ref] = on_reply
        self._send({"type": "chat.send", "room": room, "text": text, "nonce": nonce, "ref": ref})

    def unanswered(self) -> int:
        return len(self._callbacks)

    def close(self) -> None:
        self.ws.close()

    def _on_frame(self, payload: bytes | str, arrived: float) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        chats, others = self.frames.get(payload, self._decode)
        if chats:
            self.on_chats(chats, arrived)
        for message in others:
            kind = message.get("type")
            if kind == "ok" or kind == "error":
                ref = message.get("ref")
                callback = self._callbacks.pop(ref, None)
                if callback is not None:
                    if kind == "ok":
                        callback(None, message.get("seq"), arrived)
                    else:
                        callback(str(message.get("code")), None, arrived)
                    continue
                future = self._waiting.get(ref)
                if future is not None and not future.done():
                    future.set_result(message)
            elif kind == "welcome":
                if self._welcome is not None and not self._welcome.done():
                    self._welcome.set_result(message)
            elif kind == "room.resync":
                self.resyncs += 1


class SocketIOClient:
    """One Engine.IO 4 / Socket.IO 5 connection (WebSocket transport only, JSON packets).

    Speaks to the peers (`loadtest.peers.socketio_server`, `loadtest/peers/socketio-node`): events
    `join`, `leave`, `chat.send` with acks, and `chat.message` pushed to rooms, with the same fields
    as `live`'s.
    """

    def __init__(self, base_url: str, user_id: str, name: str, on_chats: OnChats, *,
                 frames: FrameCache = FRAMES) -> None:
        url = ws_url(base_url, "/socket.io/", "EIO=4&transport=websocket")
        self.ws = WsClient(url, self._on_frame, text_as_bytes=True)
        self.user_id, self.name = user_id, name
        self.on_chats = on_chats
        self.frames = frames
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._callbacks: dict[int, OnReply] = {}
        self._connected: asyncio.Future[None] | None = None
        self.resyncs = 0

    async def connect(self, timeout: float = 10.0) -> dict[str, Any]:
        self._connected = asyncio.get_running_loop().create_future()
        await self.ws.connect(timeout)
        assert self.ws.closed is not None
        done, _ = await asyncio.wait({self._connected, self.ws.closed}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._connected in done:
            self._connected.result()
            return {}
        self.ws.abort()
        raise HandshakeFailed("socket.io connect failed or timed out")

    @property
    def closed(self) -> asyncio.Future[tuple[int | None, str]]:
        assert self.ws.closed is not None
        return self.ws.closed

    def _emit(self, event: str, data: dict[str, Any], ack: int) -> None:
        self.ws.send(f"42{ack}" + json.dumps([event, data], separators=(",", ":")))

    async def request(self, event: str, data: dict[str, Any], timeout: float = 15.0) -> Any:
        ack = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ack] = future
        self._emit(event, data, ack)
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise RequestFailed("timeout", f"no ack to {event} in {timeout:g}s") from None
        finally:
            self._waiting.pop(ack, None)
        if isinstance(reply, dict) and reply.get("error"):
            raise RequestFailed(str(reply["error"]))
        return reply

    async def join(self, room: str) -> int:
        reply = await self.request("join", {"room": room})
        return int(reply.get("seq") or 0)

    async def leave(self, room: str) -> None:
        await self.request("leave", {"room": room})

    def send_chat(self, room: str, text: str, nonce: str, on_reply: OnReply) -> None:
        ack = next(self._ids)
        self._callbacks[ack] = on_reply
        self._emit("chat.send", {"room": room, "text": text, "nonce": nonce}, ack)

    def unanswered(self) -> int:
        return len(self._callbacks)

    def close(self) -> None:
        self.ws.send("41")
        self.ws.close()

    def _on_frame(self, payload: bytes | str, arrived: float) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        if payload[:2] == b"42":  # an event, the same bytes for every member of a room
            chats, _ = self.frames.get(payload, _decode_sio_event)
            if chats:
                self.on_chats(chats, arrived)
            elif b'"room.resync"' in payload[:40]:
                self.resyncs += 1
            return
        text = payload.decode()
        kind = text[:1]
        if kind == "4":  # Engine.IO message: a Socket.IO packet follows
            sio = text[1:2]
            if sio == "3":
                body = text[2:]
                start = body.index("[")
                ack = int(body[:start])
                args = json.loads(body[start:])
                reply = args[0] if args else None
                callback = self._callbacks.pop(ack, None)
                if callback is not None:
                    if isinstance(reply, dict) and reply.get("error"):
                        callback(str(reply["error"]), None, arrived)
                    else:
                        callback(None, reply.get("seq") if isinstance(reply, dict) else None, arrived)
                    return
                future = self._waiting.get(ack)
                if future is not None and not future.done():
                    future.set_result(reply)
            elif sio == "0" and self._connected is not None and not self._connected.done():
                self._connected.set_result(None)
            elif sio == "4" and self._connected is not None and not self._connected.done():
                self._connected.set_exception(HandshakeFailed("socket.io connect_error " + text[2:]))
        elif kind == "0":  # Engine.IO open: connect to the default namespace
            self.ws.send("40" + json.dumps({"user": self.user_id, "name": self.name}))
        elif kind == "2":  # Engine.IO ping (the server pings in v4)
            self.ws.send("3")
        elif kind == "1":
            self.ws.close()


def _decode_sio_event(payload: bytes) -> tuple[Chats, tuple[dict[str, Any], ...]]:
    """A Socket.IO EVENT packet (`42[name, data]`, binary attachments unused): its chat message."""
    body = payload[2:]
    event, data = json.loads(body[body.index(b"["):])[:2]
    if event != "chat.message":
        return (), ()
    sent, tag = text_stamp(data["text"])
    return ((data["room"], data["seq"], sent, tag),), ()
