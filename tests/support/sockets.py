"""Small, fixed socket buffers on both ends of a test connection, for tests of backpressure.

How much a client that stops reading leaves in the kernel depends on both buffers: its receive
buffer and the server's send buffer. Left alone, Linux autotunes them up to tcp_rmem/tcp_wmem's
maximum (4 MB on one machine, 32 MB on another), so a test that floods a paused reader and waits
for the server to notice would pass or fail by the machine. Set both explicitly, before the
connection's window opens (the client's, before `connect`), and the amount is known.
"""

from __future__ import annotations

import socket
from typing import Any

SMALL_BUFFER = 64 * 1024


def small_buffers(sock: socket.socket, size: int = SMALL_BUFFER) -> socket.socket:
    """`sock` with fixed send and receive buffers of `size` (no autotuning); returns it."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    return sock


def client_socket(size: int = SMALL_BUFFER) -> socket.socket:
    """A TCP socket (not yet connected) with small fixed buffers."""
    return small_buffers(socket.socket(socket.AF_INET, socket.SOCK_STREAM), size)


def server_side(conn: Any) -> socket.socket:
    """The server's socket of a gateway connection (`live.signaling.connection.Connection`) under
    `live serve`'s WebSocket protocol (the one with the synchronous write)."""
    send_now = conn._send_now
    assert send_now is not None, "a server with live's WebSocket protocol (live.send_now)"
    sock: socket.socket = send_now.__self__.transport.get_extra_info("socket")
    return sock
