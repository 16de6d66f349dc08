"""The WebSocket endpoint `/v1/ws?token=`, and how uvicorn serves it.

The token is checked after the handshake is accepted, so a client with a bad token sees the
close code (4001) rather than a failed handshake. Uvicorn's own limits are set from the settings
(`uvicorn_ws_options`): the protocol is `live.signaling.wire`'s (uvicorn's sans-I/O one with a
synchronous write for fan-out); its message size limit sits well above `LIVE_MAX_FRAME_BYTES` so that the
session, not the transport, judges an oversized frame (4009 rather than 1009), and its protocol
pings (every heartbeat, pong due within 1.5 heartbeats) drop dead peers.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Protocol

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from live.auth.tokens import verify
from live.auth.users import UserDirectory
from live.config import Settings
from live.errors import ApiError
from live.signaling import codec
from live.signaling.connection import Connection
from live.signaling.gateway import Gateway
from live.signaling.session import CLOSE_SERVER_ERROR, CLOSE_UNAUTHORIZED, Session
from live.signaling.wire import LiveWebSocketProtocol, WsLimits, send_now_of
from live.storage.ids import new_id

log = logging.getLogger("live.signaling.endpoint")

# Frames this much over LIVE_MAX_FRAME_BYTES are still read whole, so the client gets 4009;
# only beyond it does the transport refuse with 1009 without reading the payload.
TRANSPORT_SIZE_FACTOR = 4
TRANSPORT_MIN_BYTES = 1 << 20


def uvicorn_ws_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn WebSocket options every way of serving `live` uses."""
    limits = WsLimits(control_rate=settings.ws_control_rate, control_burst=settings.ws_control_burst,
                      send_queue_bytes=settings.send_queue_bytes)
    protocol: dict[str, Any] = (
        {"ws": functools.partial(LiveWebSocketProtocol, limits=limits)} if LiveWebSocketProtocol is not None else {}
    )
    return {
        **protocol,
        "ws_max_size": max(settings.max_frame_bytes * TRANSPORT_SIZE_FACTOR, TRANSPORT_MIN_BYTES),
        "ws_ping_interval": settings.heartbeat_seconds,
        "ws_ping_timeout": settings.heartbeat_seconds * 1.5,
        "ws_per_message_deflate": False,
    }


class GatewayServices(Protocol):
    """What the endpoint needs of the node."""

    @property
    def settings(self) -> Settings: ...
    @property
    def users(self) -> UserDirectory: ...
    @property
    def gateway(self) -> Gateway: ...


async def websocket_endpoint(websocket: WebSocket) -> None:
    services: GatewayServices = websocket.app.state.services
    settings = services.settings
    gateway = services.gateway
    encoding, subprotocol = codec.negotiate(websocket.scope.get("subprotocols") or [])
    try:
        principal = verify(
            settings.secret or "", websocket.query_params.get("token"),
            leeway=settings.token_leeway_seconds,
        )
    except ApiError as exc:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(CLOSE_UNAUTHORIZED, exc.message[:120])
        return
    await websocket.accept(subprotocol=subprotocol)
    try:
        await services.users.ensure(principal)
    except Exception as exc:  # noqa: BLE001 - the database is down: tell the client to retry
        log.warning("websocket: user record failed (%s)", exc)
        await websocket.close(CLOSE_SERVER_ERROR, "unavailable; retry")
        return
    session = Session(new_id(), principal, encoding=encoding, max_frame_bytes=settings.max_frame_bytes,
                      limits=gateway.limits)
    conn = Connection(websocket, session, perform=gateway.requests.perform, flusher=gateway.flusher,
                      send_queue_bytes=settings.send_queue_bytes, heartbeat=settings.heartbeat_seconds,
                      send_now=send_now_of(websocket.scope))
    # `welcome` is queued first, before the connection is registered: from then on events for the
    # user (a notification, a moderation notice) may arrive, and the server speaks first. It is
    # written only once the node routes this user's events (`open`): a client that has its welcome
    # misses nothing sent to it afterwards, from any node.
    conn.send(session.welcome(settings.heartbeat_seconds, settings.ice_servers))
    try:
        await gateway.connect(conn)
    except Exception as exc:  # noqa: BLE001 - the bus is down
        log.warning("websocket: registering a connection failed (%s)", exc)
        await websocket.close(CLOSE_SERVER_ERROR, "unavailable; retry")
        return
    conn.open()
    try:
        await conn.run()
    except Exception:
        log.exception("websocket connection of %s failed", principal.id)
    finally:
        await gateway.disconnect(conn)


OPENAPI_EXTRA: dict[str, Any] = {
    "/v1/ws": {
        "get": {
            "tags": ["gateway"],
            "summary": "The WebSocket gateway (upgrade); the protocol is in docs/protocol.md",
            "description": (
                "Subprotocols `live.v1.msgpack` (binary, MessagePack) or `live.v1.json` (text, "
                "JSON; the default). The token goes in the query (browsers cannot set headers). "
                "Close codes: 4001 unauthorized, 4003 forbidden (banned), 4008 too slow, "
                "4009 frame too big, 4029 flooding (or: a newer connection of the same user "
                "replaced this one, past `LIVE_MAX_SOCKETS_PER_USER`), 1011 server error."
            ),
            "parameters": [{"name": "token", "in": "query", "required": True,
                            "schema": {"type": "string"}, "description": "the JWT"}],
            "responses": {
                "101": {"description": "Switching Protocols; `welcome` comes first"},
                # A plain HTTP GET (no upgrade) reaches no HTTP route: the contract's 404 body.
                "404": {"description": "not a WebSocket upgrade",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
    }
}


ROUTE = WebSocketRoute("/v1/ws", websocket_endpoint)


async def answer(scope: Any, receive: Any, send: Any) -> None:
    """Serve the gateway's WebSocket (`/v1/ws`) from the very top of the app (`live.app.LiveApp`).

    The HTTP middleware (metrics, body limits), the exception middleware and the router do nothing
    for the gateway's WebSocket, but each would keep a coroutine frame alive for the connection's
    whole life: several KB per connection at 10,000 connections. The route stays registered, so
    the app behaves the same through the ordinary stack.
    """
    await websocket_endpoint(WebSocket(scope, receive, send))
