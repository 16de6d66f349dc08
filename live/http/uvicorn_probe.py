"""A start-up probe of the uvicorn internals `live`'s two protocols build on.

`live.http.protocol.LiveHttpProtocol` subclasses uvicorn's httptools protocol and
`live.signaling.wire.LiveWebSocketProtocol` its sans-I/O WebSocket protocol: they override parser
callbacks and read attributes uvicorn sets in its own code (the request cycle, the flow control,
the websockets connection). None of that is public API. uvicorn is pinned to the minor version
tested (pyproject.toml, the lock files); this probe makes a server with another uvicorn fail at
start-up with a message naming what changed, rather than misbehave under load (the same idea as
`live.media.passthrough.check_aiortc` for aiortc).

It checks by name: each method we override or call through `super()` exists on uvicorn's class,
and each attribute we read is assigned somewhere in uvicorn's class code; and the objects we use
from the request cycle (`response_complete`, `response_started`, `disconnected`, `message_event`)
and the flow (`read_paused`) are still set by their constructors.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import uvicorn

SUPPORTED = "uvicorn 0.55.x"

# Methods of uvicorn's httptools protocol that LiveHttpProtocol overrides or calls.
HTTP_METHODS = (
    "connection_made", "connection_lost", "data_received", "on_message_begin", "on_url", "on_header",
    "on_headers_complete", "on_body", "on_message_complete", "on_response_complete", "pause_writing",
    "resume_writing", "handle_websocket_upgrade", "_should_upgrade", "_get_upgrade",
    "_unset_keepalive_if_required",
)
# Attributes it reads that uvicorn's code assigns.
HTTP_ATTRIBUTES = ("transport", "cycle", "flow", "parser", "headers", "url", "server_state", "loop", "client")
CYCLE_ATTRIBUTES = ("response_complete", "response_started", "disconnected", "message_event")
FLOW_ATTRIBUTES = ("read_paused",)

# The same for the sans-I/O WebSocket protocol.
WS_METHODS = (
    "connection_lost", "handle_bytes", "handle_cont", "handle_ping", "handle_pong", "handle_text",
    "run_asgi", "send",
)
WS_ATTRIBUTES = (
    "conn", "handshake_complete", "close_sent", "initial_response", "read_paused", "queue", "writable",
    "scope", "transport", "loop", "disconnected", "close_timeout",
)


def _assigned_names(cls: type) -> set[str]:
    """Every name the code of `cls` (and its bases) uses as an attribute or global."""
    names: set[str] = set()
    for klass in cls.__mro__:
        for value in vars(klass).values():
            code = getattr(getattr(value, "__func__", value), "__code__", None)
            if code is not None:
                names.update(code.co_names)
    return names


def _missing(cls: type, methods: Iterable[str], attributes: Iterable[str]) -> list[str]:
    names = _assigned_names(cls)
    gone = [f"{cls.__name__}.{m}()" for m in methods if not callable(getattr(cls, m, None))]
    gone += [f"{cls.__name__}.{a}" for a in attributes if a not in names]
    return gone


@functools.cache
def check_uvicorn() -> None:
    """Raise RuntimeError, naming what is missing, if uvicorn no longer has what we build on."""
    try:
        from uvicorn.protocols.http.flow_control import FlowControl
        from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError as exc:
        raise RuntimeError(f"uvicorn {uvicorn.__version__} lacks a module live needs ({exc}); "
                           f"live needs {SUPPORTED} (pip install -r requirements.lock)") from None
    missing = _missing(HttpToolsProtocol, HTTP_METHODS, HTTP_ATTRIBUTES)
    missing += _missing(RequestResponseCycle, (), CYCLE_ATTRIBUTES)
    missing += _missing(FlowControl, (), FLOW_ATTRIBUTES)
    missing += _missing(WebSocketsSansIOProtocol, WS_METHODS, WS_ATTRIBUTES)
    if not isinstance(STATUS_LINE, dict) or 200 not in STATUS_LINE:
        missing.append("httptools_impl.STATUS_LINE")
    if missing:
        raise RuntimeError(f"uvicorn {uvicorn.__version__} changed what live's HTTP and WebSocket protocols "
                           f"build on ({', '.join(missing)}); live needs {SUPPORTED} "
                           "(pip install -r requirements.lock)")
