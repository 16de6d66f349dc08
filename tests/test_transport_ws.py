"""Limits the WebSocket transport holds, against a real server over raw sockets.

The client is websockets' sans-I/O `ClientProtocol` over a plain socket, so the test decides
when (and whether) to read: a client that pings and never reads, one that starts a message and
never ends it, one that floods pongs.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from live.client import ws_url
from tests.support.rawhttp import counter, until
from tests.support.servers import RunningServer, run_server, settings, uid


class RawWebSocket:
    """A WebSocket client whose reads and writes the test drives by hand."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, server: RunningServer, *, rcvbuf: int | None = None,
                   subprotocol: str | None = None) -> RawWebSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        port = int(server.url.rsplit(":", 1)[1])
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        protocol = ClientProtocol(parse_uri(ws_url(server.ws_url, server.token(uid("raw")))), max_size=None)
        request = protocol.connect()
        if subprotocol:
            request.headers["Sec-WebSocket-Protocol"] = subprotocol
        protocol.send_request(request)
        raw = cls(sock, protocol)
        await raw.flush()
        while protocol.handshake_exc is None and not raw._accepted():
            await raw.read_some()
        assert protocol.handshake_exc is None, protocol.handshake_exc
        return raw

    def _accepted(self) -> bool:
        return self.protocol.state.name == "OPEN"

    async def flush(self) -> None:
        data = b"".join(self.protocol.data_to_send())
        if data:
            await self.loop.sock_sendall(self.sock, data)

    async def read_some(self) -> bool:
        """Read once; False at the end of the stream."""
        try:
            data = await self.loop.sock_recv(self.sock, 65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        return bool(data)

    async def send_frame(self, frame: Frame) -> None:
        self.protocol.send_frame(frame)
        await self.flush()

    async def close_code(self, timeout: float = 30.0) -> int | None:
        """Read until the server's close frame (or the end of the stream); its code."""
        async def read_until_closed() -> None:
            while self.protocol.close_rcvd is None and await self.read_some():
                pass

        await asyncio.wait_for(read_until_closed(), timeout)
        self.sock.close()
        rcvd = self.protocol.close_rcvd
        return rcvd.code if rcvd is not None else None

    def messages(self) -> list[str | bytes]:
        return [e.data.decode() if e.opcode is Opcode.TEXT else bytes(e.data)
                for e in self.protocol.events_received() if isinstance(e, Frame) and e.opcode in
                (Opcode.TEXT, Opcode.BINARY)]


@pytest.fixture
async def node(sqlite_url: str) -> AsyncIterator[RunningServer]:
    async with run_server(settings(database_url=sqlite_url)) as running:
        yield running


async def refusals(server: RunningServer, limit: str) -> float:
    return counter(await server.metrics(), "live_limit_refusals_total", limit=limit)


async def test_pings_as_fast_as_possible_close_4029(node: RunningServer) -> None:
    """Before: every ping got a pong queued, read or not (4 such clients took 1.5 GB)."""
    before = await refusals(node, "ws_control_frames")
    ws = await RawWebSocket.open(node, rcvbuf=4096)
    try:
        for _ in range(2000):  # far past the burst; the server closes long before
            await ws.send_frame(Frame(Opcode.PING, b"p" * 125))
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert await ws.close_code() == 4029
    assert await refusals(node, "ws_control_frames") == before + 1


async def test_pongs_count_against_the_send_queue(sqlite_url: str) -> None:
    """With the flood limit out of the way, pongs a client does not read still hit a cap: 4008."""
    cfg = settings(database_url=sqlite_url, ws_control_rate=1_000_000, ws_control_burst=1_000_000,
                   send_queue_bytes=16384)
    async with run_server(cfg) as srv:
        before = await refusals(srv, "ws_send_queue")
        ws = await RawWebSocket.open(srv, rcvbuf=4096)

        async def refused() -> bool:
            return await refusals(srv, "ws_send_queue") > before

        sent = 0
        try:
            while not await refused():
                for _ in range(1000):
                    ws.protocol.send_frame(Frame(Opcode.PING, b"p" * 125))
                await ws.flush()
                sent += 1000
                assert sent < 400_000, "no 4008 after 50 MB of pongs"
        except (ConnectionResetError, BrokenPipeError):
            assert await until(refused)
        assert await ws.close_code() == 4008


async def test_a_message_that_never_ends_closes_4029(node: RunningServer) -> None:
    ws = await RawWebSocket.open(node)
    try:
        await ws.send_frame(Frame(Opcode.TEXT, b'{"type": "chat.send", "text": "', fin=False))
        for _ in range(500):
            await ws.send_frame(Frame(Opcode.CONT, b"a", fin=False))
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert await ws.close_code() == 4029


async def test_unsolicited_pongs_flood_closes_4029(node: RunningServer) -> None:
    ws = await RawWebSocket.open(node)
    try:
        for _ in range(500):
            await ws.send_frame(Frame(Opcode.PONG, b"unasked"))
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert await ws.close_code() == 4029


async def test_pings_at_a_human_pace_are_answered(node: RunningServer) -> None:
    async with connect(ws_url(node.url, node.token(uid("pinger")))) as ws:
        await ws.recv()  # welcome
        for _ in range(node.settings.ws_control_burst - 1):
            await (await ws.ping())
        await ws.send(json.dumps({"type": "ping", "ref": 1}))
        assert json.loads(await ws.recv()) == {"type": "ok", "ref": 1}


async def test_fragmented_messages_still_arrive(node: RunningServer) -> None:
    ws = await RawWebSocket.open(node)
    message = json.dumps({"type": "ping", "ref": "frag"}).encode()
    await ws.send_frame(Frame(Opcode.TEXT, message[:5], fin=False))
    await ws.send_frame(Frame(Opcode.CONT, message[5:10], fin=False))
    await ws.send_frame(Frame(Opcode.CONT, message[10:], fin=True))
    replies: list[dict[str, object]] = []
    while not any(r.get("ref") == "frag" for r in replies):
        assert await ws.read_some()
        for m in ws.messages():  # a frame may batch several messages (the welcome and the ok)
            value = json.loads(m)
            replies += value if isinstance(value, list) else [value]
    assert {"type": "ok", "ref": "frag"} in replies
    ws.sock.close()


# -- nesting in frames ----------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "frame"), [
    ("json", "[" * 60_000),
    ("json", '{"type": "ping", "ref": ' + "[" * 2000 + "]" * 2000 + "}"),
    ("msgpack", b"\x91" * 60_000 + b"\xc0"),
])
async def test_deep_frames_are_invalid_request_and_the_socket_stays(
        node: RunningServer, encoding: str, frame: str | bytes) -> None:
    subprotocols = ["live.v1.msgpack"] if encoding == "msgpack" else None
    async with connect(ws_url(node.url, node.token(uid("deep"))), subprotocols=subprotocols) as ws:
        await ws.recv()  # welcome
        await ws.send(frame)
        raw = await ws.recv()
        reply = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
        assert reply["type"] == "error" and reply["code"] == "invalid_request"
        ping = {"type": "ping", "ref": 7}
        await ws.send(msgpack.packb(ping) if encoding == "msgpack" else json.dumps(ping))
        raw = await ws.recv()
        assert (msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)) == {"type": "ok", "ref": 7}
