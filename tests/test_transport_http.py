"""Limits at the HTTP door, against a real server over raw sockets (docs/security.md).

Each test is a client with no token doing what an attacker does: heads that never end, heads
and bodies that trickle, silent connections, many connections from one address, responses never
read. Each limit answers with the contract's JSON error (or closes), and counts in
`live_limit_refusals_total{limit}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from live.client import ws_url
from tests.support import boom
from tests.support.boom import BIG_BYTES
from tests.support.rawhttp import body_of, counter, exchange, header_of, open_raw, read_to_eof, status_of, until
from tests.support.servers import RunningServer, run_server, settings

WITH_BOOM = (boom.api,)
GET_HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
async def door(sqlite_url: str) -> AsyncIterator[RunningServer]:
    """A server with short timers, so that waiting for them is quick."""
    cfg = settings(database_url=sqlite_url, keepalive_timeout_seconds=0.5, header_timeout_seconds=1,
                   body_timeout_seconds=1, write_timeout_seconds=1)
    async with run_server(cfg, extra_apis=WITH_BOOM) as running:
        yield running


async def refusals(server: RunningServer, limit: str) -> float:
    return counter(await server.metrics(), "live_limit_refusals_total", limit=limit)


def assert_json_error(response: bytes, status: int, code: str) -> dict[str, Any]:
    assert status_of(response) == status, response[:300]
    assert header_of(response, "content-type") == "application/json"
    assert header_of(response, "connection") == "close"
    error = json.loads(body_of(response))["error"]
    assert error["code"] == code and error["message"]
    return error


async def assert_healthy(server: RunningServer) -> None:
    response = await exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(response) == 200


# -- heads --------------------------------------------------------------------------------------


async def test_a_header_line_without_end_is_431_and_bounded(door: RunningServer) -> None:
    """httptools keeps an unfinished header line in memory: the line must not grow past the limit."""
    before = await refusals(door, "header_bytes")
    reader, writer = await open_raw(door)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    answer = asyncio.create_task(read_to_eof(reader))
    sent = 0
    chunk = b"a" * 4096
    try:
        while not answer.done() and sent < 64 << 20:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        pass
    response = await answer
    writer.close()
    assert_json_error(response, 431, "invalid_request")
    # Refused once past the limit: the server did not take megabytes first.
    assert sent < door.settings.max_header_bytes + (4 << 20)
    assert await refusals(door, "header_bytes") == before + 1
    await assert_healthy(door)


async def test_a_whole_head_over_the_limit_is_431(door: RunningServer) -> None:
    big = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 400) for i in range(60))
    response = await exchange(door, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert "head" in assert_json_error(response, 431, "invalid_request")["message"]


async def test_too_many_headers_is_431(door: RunningServer) -> None:
    before = await refusals(door, "header_count")
    limit = door.settings.max_headers
    many = b"".join(b"X-%d: y\r\n" % i for i in range(limit + 1))
    response = await exchange(door, b"GET /healthz HTTP/1.1\r\n" + many + b"\r\n")
    assert "headers" in assert_json_error(response, 431, "invalid_request")["message"]
    assert await refusals(door, "header_count") == before + 1
    # At the limit it is served.
    enough = b"".join(b"X-%d: y\r\n" % i for i in range(limit - 1)) + b"Connection: close\r\n"
    assert status_of(await exchange(door, b"GET /healthz HTTP/1.1\r\n" + enough + b"\r\n")) == 200


@pytest.mark.parametrize("target", [b"/healthz?q=" + b"a" * 9000, b"/" + b"p" * 9000])
async def test_a_long_request_target_is_414(door: RunningServer, target: bytes) -> None:
    before = await refusals(door, "url_bytes")
    response = await exchange(door, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_json_error(response, 414, "invalid_request")
    assert await refusals(door, "url_bytes") == before + 1


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello on the plain port
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
    b"G\x00T / HTTP/1.1\r\n\r\n",
    b"POST /test/echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
])
async def test_what_is_not_http_is_a_json_400(door: RunningServer, garbage: bytes) -> None:
    assert_json_error(await exchange(door, garbage), 400, "invalid_request")
    await assert_healthy(door)


# -- timers -------------------------------------------------------------------------------------


async def test_silent_connections_are_closed(door: RunningServer) -> None:
    """Connections that never send a byte are closed after the keep-alive timeout, so they
    cannot pile up until the process runs out of file descriptors."""
    before = await refusals(door, "keepalive_timeout")
    conns = [await open_raw(door) for _ in range(50)]
    ends = await asyncio.gather(*(read_to_eof(reader) for reader, _ in conns))
    assert ends == [b""] * 50
    for _, writer in conns:
        writer.close()
    assert await refusals(door, "keepalive_timeout") >= before + 50
    await assert_healthy(door)


async def test_crlf_now_and_then_does_not_keep_a_connection(door: RunningServer) -> None:
    reader, writer = await open_raw(door)
    closed = asyncio.create_task(read_to_eof(reader))
    try:
        while not closed.done():
            writer.write(b"\r\n")
            await writer.drain()
            await asyncio.wait([closed], timeout=0.1)
    except (ConnectionResetError, BrokenPipeError):
        pass
    await closed  # the connection ended (quietly, or with a 408 if the CRLFs began a request)
    writer.close()


async def test_a_kept_alive_connection_is_closed_when_idle(door: RunningServer) -> None:
    reader, writer = await open_raw(door)
    writer.write(GET_HEALTHZ)
    response = await read_to_eof(reader)  # ends when the idle connection is closed
    assert status_of(response) == 200 and response.endswith(b'{"status":"ok"}')
    writer.close()


async def test_answered_before_its_body_the_connection_still_times_out(door: RunningServer) -> None:
    reader, writer = await open_raw(door)
    writer.write(b"POST /v1/communities HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")  # 401 at once: the token is checked first
    assert status_of(head) == 401
    await reader.readexactly(int(header_of(head + b"\r\n\r\n", "content-length") or 0))
    writer.write(b'{"name":1}')  # the body, after its answer; then nothing
    assert await read_to_eof(reader) == b""
    writer.close()


async def test_a_trickling_head_is_408(door: RunningServer) -> None:
    """A byte now and then (slowloris) does not keep a head open past the header timeout."""
    before = await refusals(door, "header_timeout")
    reader, writer = await open_raw(door)
    answer = asyncio.create_task(read_to_eof(reader))
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 10_000
    try:
        for byte in head:
            if answer.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.wait([answer], timeout=0.05)
    except (ConnectionResetError, BrokenPipeError):
        pass
    response = await answer
    writer.close()
    assert_json_error(response, 408, "invalid_request")
    assert await refusals(door, "header_timeout") == before + 1


async def test_a_trickling_body_is_408_and_the_app_sees_the_client_leave(
        door: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    before = await refusals(door, "body_timeout")
    reader, writer = await open_raw(door)
    writer.write(b"POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n{")
    answer = asyncio.create_task(read_to_eof(reader))
    with caplog.at_level(logging.WARNING):
        try:
            while not answer.done():
                writer.write(b" ")
                await writer.drain()
                await asyncio.wait([answer], timeout=0.1)
        except (ConnectionResetError, BrokenPipeError):
            pass
        response = await answer
        writer.close()
        assert_json_error(response, 408, "invalid_request")
        assert await refusals(door, "body_timeout") == before + 1
        await assert_healthy(door)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_a_client_that_leaves_mid_body_is_not_a_server_error(
        door: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    text = await door.metrics()
    errors = counter(text, "live_http_requests_total", method="POST", route="/test/echo", status="500")
    gone = counter(text, "live_http_client_disconnects_total")
    with caplog.at_level(logging.WARNING):
        _reader, writer = await open_raw(door)
        writer.write(b"POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"text\":")
        await writer.drain()
        writer.close()  # gone, 990 bytes short

        async def counted() -> bool:
            return counter(await door.metrics(), "live_http_client_disconnects_total") > gone

        assert await until(counted)
        text = await door.metrics()
    assert counter(text, "live_http_requests_total", method="POST", route="/test/echo", status="500") == errors
    assert counter(text, "live_http_requests_total", method="POST", route="/test/echo", status="499") >= 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_a_response_never_read_is_dropped(door: RunningServer) -> None:
    before = await refusals(door, "write_timeout")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", int(door.url.rsplit(":", 1)[1])))
    await asyncio.get_running_loop().sock_sendall(sock, b"GET /test/big HTTP/1.1\r\nHost: x\r\n\r\n")

    async def dropped() -> bool:
        return await refusals(door, "write_timeout") > before

    assert await until(dropped)
    reader, writer = await asyncio.open_connection(sock=sock)
    received = len(await read_to_eof(reader))
    writer.close()
    assert received < BIG_BYTES
    await assert_healthy(door)


# -- connections per address --------------------------------------------------------------------


@pytest.fixture
async def capped(sqlite_url: str) -> AsyncIterator[RunningServer]:
    """A server that trusts no proxy, so that loopback clients are capped like any address."""
    cfg = settings(database_url=sqlite_url, max_connections_per_address=4, forwarded_allow_ips="",
                   keepalive_timeout_seconds=120)
    async with run_server(cfg) as running:
        yield running


async def test_connections_per_address_are_capped(capped: RunningServer) -> None:
    before = await refusals(capped, "connections_per_address")
    held = [await open_raw(capped) for _ in range(4)]
    for reader, writer in held:  # each is a served, kept-alive connection
        writer.write(GET_HEALTHZ)
        assert (await reader.readuntil(b'{"status":"ok"}')).startswith(b"HTTP/1.1 200")
    response = await exchange(capped, GET_HEALTHZ)
    error = assert_json_error(response, 429, "rate_limited")
    assert error["retry_after"] > 0 and header_of(response, "retry-after")
    # A WebSocket upgrade from the same address is refused the same way, before the upgrade.
    with pytest.raises(InvalidStatus) as caught:
        async with connect(ws_url(capped.url, capped.token("capped"))):
            pass
    assert caught.value.response.status_code == 429
    # One leaves: the next is served.
    held.pop()[1].close()

    async def served() -> bool:
        return status_of(await exchange(capped, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")) == 200

    assert await until(served)
    for _, writer in held:
        writer.close()
    # (read at the end: /metrics from this address is capped too while the others are held)
    assert await refusals(capped, "connections_per_address") >= before + 2


async def test_websockets_hold_their_place_until_they_close(capped: RunningServer) -> None:
    sockets = [await connect(ws_url(capped.url, capped.token(f"ws{i}"))) for i in range(4)]
    for ws in sockets:
        await ws.recv()  # welcome
    assert status_of(await exchange(capped, GET_HEALTHZ)) == 429
    await sockets.pop().close()

    async def served() -> bool:
        return status_of(await exchange(capped, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")) == 200

    assert await until(served)
    for ws in sockets:
        await ws.close()


async def test_trusted_proxies_are_not_capped(sqlite_url: str) -> None:
    """Behind a proxy every client has the proxy's address: the proxy enforces the cap."""
    cfg = settings(database_url=sqlite_url, max_connections_per_address=2)  # trusts loopback
    async with run_server(cfg) as srv:
        held = [await open_raw(srv) for _ in range(6)]
        async with httpx.AsyncClient(base_url=srv.url) as c:
            resp = await c.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
        assert resp.status_code == 200
        for _, writer in held:
            writer.close()


def test_address_table() -> None:
    """What the per-address cap counts by, and who is exempt (a table of cases, no sockets)."""
    from live.http.addresses import UNCOUNTED, AddressTable, TrustedProxies

    table = AddressTable(2, TrustedProxies("10.0.0.0/8, 192.0.2.7"))
    a = [table.acquire("203.0.113.5") for _ in range(2)]
    assert all(s is not None and s is not UNCOUNTED for s in a)
    assert table.acquire("203.0.113.5") is None  # at the cap
    assert table.acquire("::ffff:203.0.113.5") is None  # the same client on a dual-stack socket
    assert table.acquire("203.0.113.6") not in (None, UNCOUNTED)  # another client
    # IPv6: one /64 is one client.
    assert table.acquire("2001:db8:1:2::1") not in (None, UNCOUNTED)
    assert table.acquire("2001:db8:1:2:ffff::9") not in (None, UNCOUNTED)
    assert table.acquire("2001:db8:1:2::77") is None
    assert table.acquire("2001:db8:1:3::1") not in (None, UNCOUNTED)
    # Trusted proxies, and peers without an IP address, are not counted.
    for host in ["10.1.2.3", "192.0.2.7", "::ffff:10.9.9.9", "unix-socket", None]:
        assert all(table.acquire(host) is UNCOUNTED for _ in range(5)), host
    # Releasing frees a place, once.
    a[0].release()
    a[0].release()
    assert table.open_from("203.0.113.5") == 1
    assert table.acquire("203.0.113.5") not in (None, UNCOUNTED)
    assert table.acquire("203.0.113.5") is None
    assert AddressTable(2, TrustedProxies("*")).acquire("203.0.113.5") is UNCOUNTED
    assert AddressTable(0, TrustedProxies("")).acquire("203.0.113.5") is UNCOUNTED


@pytest.mark.parametrize(("trusted", "seen"), [("127.0.0.1", "203.0.113.9 https"), ("", "127.0.0.1 http")])
async def test_forwarded_headers_are_read_from_trusted_proxies_only(trusted: str, seen: str) -> None:
    """The app applies X-Forwarded-For/-Proto itself (uvicorn's middleware, inside `LiveApp`, past
    its HLS fast path): a trusted proxy's are believed, anyone else's ignored."""
    import httpx
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from live.app import LiveApp

    async def whoami(request: Request) -> PlainTextResponse:
        assert request.client is not None
        return PlainTextResponse(f"{request.client.host} {request.url.scheme}")

    app = LiveApp(routes=[Route("/whoami", whoami)], forwarded_allow_ips=trusted)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://live.test") as http:
        reply = await http.get("/whoami", headers={"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"})
    assert reply.text == seen
