"""The WebSocket session core: pure, no I/O, no `await` — frames in, effects out.

The adapter (`live.signaling.connection.Connection`, made for each socket by `endpoint.py`) feeds
what the client sent (`receive_frame`) and what a service answered (`complete` / `fail`), and
carries out the returned effects in order:

- `Reply(message)`: send this message to the client (every reply echoes the request's `ref`);
- `Request(type, message)`: perform this validated client request, then call back;
- `Close(code, reason)`: close the socket with this code;
- `Limited(limit)`: a per-connection limit refused something (the adapter counts it).

The rules are data. A connection is `OPEN` or `CLOSED` (`CONNECTION_TRANSITIONS`); each room of
the connection is absent, `JOINING` or `JOINED` (`ROOM_TRANSITIONS`); a missing key in a table is
a protocol error, either the client's (an error reply) or ours (`LocalProtocolError`). Flooding is
judged on raw frames, before any decoding, by a token bucket with an injected clock.

What one connection may hold and do is bounded too (`Limits`, from the settings): rooms at once
(`conflict` past it), `room.join`/`room.leave` per second (a second token bucket; `rate_limited`
with `retry_after`), and requests being performed at once (`rate_limited`). A join is cheap to
send and dear to answer (history, a bus subscription), so these are what stop one socket from
joining thousands of rooms or looping join/leave to pull history.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

from live.auth.tokens import Principal
from live.errors import ApiError, ErrorCode, LiveError
from live.room_id import RoomId
from live.signaling import codec

# Close codes of the contract (and two of RFC 6455).
CLOSE_GOING_AWAY = 1001
CLOSE_SERVER_ERROR = 1011
CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_TOO_SLOW = 4008
CLOSE_TOO_BIG = 4009
CLOSE_FLOODING = 4029

# Raw frames a client may send: a sustained rate and a burst on top (a page reload that rejoins
# ten rooms and replays a few chat messages stays far below; a script in a loop does not).
FLOOD_RATE = 30.0
FLOOD_BURST = 60.0

# The names of the per-connection limits (the `limit` label of live_ws_limited_total).
LIMIT_ROOMS = "rooms_per_connection"
LIMIT_JOIN_RATE = "join_rate"
LIMIT_IN_FLIGHT = "requests_in_flight"
ROOM_MOVES = frozenset({"room.join", "room.leave"})


class LocalProtocolError(LiveError):
    """We misused the core (a bug in the adapter), e.g. feeding frames after `Close`."""


class ConnectionState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class RoomState(enum.Enum):
    JOINING = "joining"
    JOINED = "joined"


# {state: {event: next state}}; a missing key is not allowed.
CONNECTION_TRANSITIONS: dict[ConnectionState, dict[str, ConnectionState]] = {
    ConnectionState.OPEN: {
        "frame": ConnectionState.OPEN,
        "flood": ConnectionState.CLOSED,
        "oversize": ConnectionState.CLOSED,
        "close": ConnectionState.CLOSED,
    },
    ConnectionState.CLOSED: {"close": ConnectionState.CLOSED},
}

# None = not in the room. Rejoining a joined room is allowed (a client recovering with `since`).
ROOM_TRANSITIONS: dict[RoomState | None, dict[str, RoomState | None]] = {
    None: {"join": RoomState.JOINING, "leave": None, "removed": None},
    RoomState.JOINING: {"joined": RoomState.JOINED, "join_failed": None, "removed": None},
    RoomState.JOINED: {"join": RoomState.JOINING, "leave": None, "removed": None},
}


# -- effects -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    message: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    type: str
    message: dict[str, Any]

    @property
    def ref(self) -> Any:
        return self.message.get("ref")

    @property
    def room(self) -> RoomId | None:
        room: RoomId | None = self.message.get("room")  # parsed by the codec
        return room


@dataclasses.dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Limited:
    limit: str


Effect = Reply | Request | Close | Limited


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """What one connection may hold and do at once (`LIVE_MAX_ROOMS_PER_CONNECTION`,
    `LIVE_JOIN_RATE`, `LIVE_JOIN_BURST`, `LIVE_MAX_REQUESTS_IN_FLIGHT`)."""

    max_rooms: int = 50
    join_rate: float = 2.0
    join_burst: float = 20.0
    max_in_flight: int = 8


DEFAULT_LIMITS = Limits()


# -- replies (the one place ApiError becomes a WebSocket error message) --------------------------


def ok_reply(ref: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "ok"}
    if ref is not None:
        out["ref"] = ref
    if data:
        out.update({k: v for k, v in data.items() if k not in ("type", "ref")})
    return out


def error_reply(ref: Any, error: ApiError) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error"}
    if ref is not None:
        out["ref"] = ref
    out.update(error.to_dict())
    return out


# -- the flood limiter -------------------------------------------------------------------------


class TokenBucket:
    """`rate` tokens a second up to `burst`; each frame takes one. The clock is the caller's."""

    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float = FLOOD_RATE, burst: float = FLOOD_BURST, now: float = 0.0):
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def allow(self, now: float) -> bool:
        return self.take(now) == 0.0

    def take(self, now: float) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one would be there."""
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


def retry_after(seconds: float) -> float:
    """A `retry_after` that is never too early: tenths below a second, else whole seconds."""
    if seconds >= 1:
        return float(math.ceil(seconds))
    return max(0.1, math.ceil(seconds * 10) / 10)


# -- the session -------------------------------------------------------------------------------


class Session:
    """One client connection's protocol state."""

    __slots__ = ("id", "user", "encoding", "max_frame_bytes", "limiter", "limits", "state", "rooms", "frames_in",
                 "in_flight", "_moves")

    def __init__(
        self,
        session_id: str,
        user: Principal,
        *,
        encoding: codec.Encoding = codec.Encoding.JSON,
        max_frame_bytes: int = 65536,
        limiter: TokenBucket | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.id = session_id
        self.user = user
        self.encoding = encoding
        self.max_frame_bytes = max_frame_bytes
        self.limiter = limiter or TokenBucket()
        self.limits = limits
        self.state = ConnectionState.OPEN
        self.rooms: dict[str, RoomState] = {}
        self.frames_in = 0
        self.in_flight = 0  # requests handed out (`Request`) and not yet completed or failed
        self._moves: TokenBucket | None = None  # joins and leaves; made on the first one

    # -- transitions

    def _move(self, event: str) -> None:
        try:
            self.state = CONNECTION_TRANSITIONS[self.state][event]
        except KeyError:
            raise LocalProtocolError(f"{event!r} in state {self.state.value}") from None

    def _move_room(self, room: str, event: str) -> bool:
        """Apply a room event; False when the table does not allow it."""
        current = self.rooms.get(room)
        allowed = ROOM_TRANSITIONS[current]
        if event not in allowed:
            return False
        nxt = allowed[event]
        if nxt is None:
            self.rooms.pop(room, None)
        else:
            self.rooms[room] = nxt
        return True

    # -- input

    def welcome(self, heartbeat: float, ice_servers: list[dict[str, Any]]) -> dict[str, Any]:
        """The first message the server sends."""
        return {
            "type": "welcome",
            "session": self.id,
            "user": {"id": self.user.id, "name": self.user.name},
            "heartbeat": heartbeat,
            "ice_servers": ice_servers,
        }

    def receive_frame(self, frame: bytes | str, now: float) -> list[Effect]:
        """A frame from the client, at time `now` (seconds, any monotonic origin)."""
        if self.state is ConnectionState.CLOSED:
            raise LocalProtocolError("frame received after close")
        size = len(frame) if isinstance(frame, bytes) else len(frame.encode())
        if size > self.max_frame_bytes:
            self._move("oversize")
            return [Close(CLOSE_TOO_BIG, f"frame over {self.max_frame_bytes} bytes")]
        if not self.limiter.allow(now):
            self._move("flood")
            return [Close(CLOSE_FLOODING, "too many frames")]
        self._move("frame")
        self.frames_in += 1
        try:
            message = codec.decode(frame, self.encoding)
        except codec.FrameError as exc:
            return [Reply(exc.reply())]
        return self.receive_message(message, now)

    def receive_message(self, message: dict[str, Any], now: float = 0.0) -> list[Effect]:
        """A validated client message (from `codec.decode`), at time `now`."""
        kind: str = message["type"]
        ref = message.get("ref")
        if kind == "ping":
            return [Reply(ok_reply(ref))]
        if self.in_flight >= self.limits.max_in_flight:
            error = ApiError(ErrorCode.RATE_LIMITED,
                             f"{self.in_flight} requests of this connection are still being performed; "
                             "wait for their replies", retry_after=1.0)
            return [Limited(LIMIT_IN_FLIGHT), Reply(error_reply(ref, error))]
        if kind in ROOM_MOVES:
            refused = self._room_move_refused(kind, message["room"], ref, now)
            if refused is not None:
                return refused
        if kind == "room.join":
            room = message["room"]
            if not self._move_room(room, "join"):
                error = ApiError(ErrorCode.CONFLICT, f"already joining {room}")
                return [Reply(error_reply(ref, error))]
        elif kind == "room.leave":
            self._move_room(message["room"], "leave")
        self.in_flight += 1
        return [Request(kind, message)]

    def _room_move_refused(self, kind: str, room: str, ref: Any, now: float) -> list[Effect] | None:
        """The limits on joins and leaves: the effects that refuse this one, or None."""
        if kind == "room.join" and room not in self.rooms and len(self.rooms) >= self.limits.max_rooms:
            error = ApiError(ErrorCode.CONFLICT,
                             f"this connection is in {len(self.rooms)} rooms, the most it may be in: "
                             "leave one first")
            return [Limited(LIMIT_ROOMS), Reply(error_reply(ref, error))]
        if self._moves is None:
            self._moves = TokenBucket(self.limits.join_rate, self.limits.join_burst, now)
        wait = self._moves.take(now)
        if wait > 0:
            retry = retry_after(wait)
            error = ApiError(ErrorCode.RATE_LIMITED, f"too many joins and leaves; retry in {retry:g} s",
                             retry_after=retry)
            return [Limited(LIMIT_JOIN_RATE), Reply(error_reply(ref, error))]
        return None

    # -- results of requests

    def complete(self, request: Request, data: dict[str, Any] | None = None) -> list[Effect]:
        """The service performed `request`: the ok reply (room state advances for joins)."""
        self.in_flight = max(0, self.in_flight - 1)
        if request.type == "room.join" and request.room is not None and not self._move_room(request.room, "joined"):
            # Removed (kick/ban) while the join was in flight: the join does not stand.
            error = ApiError(ErrorCode.FORBIDDEN, "you were removed from this room")
            return [Reply(error_reply(request.ref, error))]
        return [Reply(ok_reply(request.ref, data))]

    def fail(self, request: Request, error: ApiError) -> list[Effect]:
        """The service refused `request`: the error reply."""
        self.in_flight = max(0, self.in_flight - 1)
        if request.type == "room.join" and request.room is not None:
            self._move_room(request.room, "join_failed")
        return [Reply(error_reply(request.ref, error))]

    def remove_from_room(self, room: str) -> bool:
        """The server took the client out of `room` (kick, ban, room closed); False if not in it."""
        if room not in self.rooms:
            return False
        self._move_room(room, "removed")
        return True

    def close(self, code: int, reason: str) -> list[Effect]:
        if self.state is ConnectionState.CLOSED:
            return []
        self._move("close")
        return [Close(code, reason)]

    def joined(self, room: str) -> bool:
        return self.rooms.get(room) is RoomState.JOINED
