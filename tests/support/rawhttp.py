"""Raw sockets for the transport's tests: what a misbehaving client sends, byte by byte."""

from __future__ import annotations

import asyncio
import re

from tests.support.servers import RunningServer
from tests.support.waiting import poll


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def open_raw(server: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port_of(server))


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = 30.0) -> bytes:
    """Everything the server sends until it closes (a reset counts as the end)."""
    chunks: list[bytes] = []

    async def read_all() -> None:
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionResetError, BrokenPipeError):
                return
            if not chunk:
                return
            chunks.append(chunk)

    await asyncio.wait_for(read_all(), timeout)
    return b"".join(chunks)


async def exchange(server: RunningServer, data: bytes, timeout: float = 30.0) -> bytes:
    """Send `data`, then read until the server closes."""
    reader, writer = await open_raw(server)
    try:
        writer.write(data)
        await writer.drain()
        return await read_to_eof(reader, timeout)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    assert match, response[:200]
    return int(match.group(1))


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def header_of(response: bytes, name: str) -> str | None:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def counter(text: str, name: str, **labels: str) -> float:
    """A counter's value in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+]+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


# Whether a check holds in time (tests/support/waiting.py's `poll`), under the name older tests use.
until = poll
