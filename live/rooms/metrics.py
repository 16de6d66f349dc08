"""Gateway and fan-out metrics (registered on the process registry, `GET /metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from live.metrics import REGISTRY

CONNECTIONS = Gauge("live_ws_connections", "Open WebSocket connections on this node",
                    registry=REGISTRY)
ROOMS = Gauge("live_rooms", "Rooms with at least one connection on this node", registry=REGISTRY)
MESSAGES_IN = Counter("live_ws_messages_in_total", "Client messages received, by type", ["type"],
                      registry=REGISTRY)
MESSAGES_OUT = Counter("live_ws_messages_out_total", "Messages written to sockets",
                       registry=REGISTRY)
FRAMES_OUT = Counter("live_ws_frames_out_total", "Frames written to sockets (a frame may batch "
                     "several messages)", registry=REGISTRY)
FANOUT_DELIVERIES = Counter("live_fanout_deliveries_total",
                            "Events handed to local connections' outboxes", registry=REGISTRY)
FANOUT_LAG = Histogram(
    "live_fanout_lag_seconds", "From publish (event ts, else bus receipt) to socket write, of the oldest "
    "message in each flush of the node's sockets (each frame, for a socket written by its writer task)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
SLOW_CONSUMERS = Counter("live_ws_slow_consumers_total",
                         "Connections closed with 4008 (outgoing backlog over the limit)",
                         registry=REGISTRY)
CLOSES = Counter("live_ws_closes_total", "Connections closed by the server, by code", ["code"],
                 registry=REGISTRY)
BUS_GAPS = Counter("live_bus_gaps_total", "Gaps reported by the bus (reconnects, overflow)",
                   registry=REGISTRY)
RECOVERIES = Counter("live_room_recoveries_total", "Room recoveries after a bus gap, by outcome",
                     ["recovered"], registry=REGISTRY)
LIMITED = Counter("live_ws_limited_total",
                  "Requests and connections refused or trimmed by a WebSocket limit, by limit "
                  "(sockets_per_user, rooms_per_connection, join_rate, requests_in_flight, join_history_bytes)",
                  ["limit"], registry=REGISTRY)
REVOCATIONS = Counter("live_room_revocations_total",
                      "Connections taken out of a room because their access was revoked, by reason",
                      ["reason"], registry=REGISTRY)
